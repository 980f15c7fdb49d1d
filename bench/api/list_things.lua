-- wrk script: GET /things?limit=100 at successive offsets over `count` Things.
-- usage: wrk ... -s list_things.lua <url> -- <token> <prefix> <count>
local token, prefix, count, i
function init(args)
  token, prefix, count = args[1], args[2], tonumber(args[3])
  i = 0
end
function request()
  local offset = (i * 100) % count
  i = i + 1
  return wrk.format("GET", prefix .. "/things?limit=100&offset=" .. offset,
                    { ["Authorization"] = "Bearer " .. token })
end
