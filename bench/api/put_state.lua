-- wrk script: PUT /things/{id}/state walking ids first..first+count-1; each pass flips the
-- target state (SUSPENDED, then ACTIVE, ...), so every request is a valid transition when all
-- Things start ACTIVE and one wrk thread is used. Non-2xx replies are counted by wrk.
-- usage: wrk -t1 ... -s put_state.lua <url> -- <token> <prefix> <first> <count>
local token, prefix, first, count, i
function init(args)
  token, prefix = args[1], args[2]
  first, count = tonumber(args[3]), tonumber(args[4])
  i = 0
end
function request()
  local id = first + (i % count)
  local pass = math.floor(i / count)
  i = i + 1
  local state = (pass % 2 == 0) and "SUSPENDED" or "ACTIVE"
  return wrk.format("PUT", prefix .. "/things/" .. id .. "/state",
                    { ["Authorization"] = "Bearer " .. token,
                      ["Content-Type"] = "application/json" },
                    '{"state":"' .. state .. '"}')
end
