-- wrk script: the baseline — a request the server answers 401 before any routing (no token):
-- the HTTP server's own cost per request on this machine, measured in the same run.
function request()
  return wrk.format("GET", "/iot/jpu/iotprogrammablesim/things/1")
end
