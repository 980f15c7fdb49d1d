-- wrk script: GET /things/{id} over ids first..first+count-1, in order, with a bearer token.
-- usage: wrk ... -s get_thing.lua <url> -- <token> <prefix> <first> <count>
local token, prefix, first, count, i
function init(args)
  token, prefix = args[1], args[2]
  first, count = tonumber(args[3]), tonumber(args[4])
  i = 0
end
function request()
  local id = first + (i % count)
  i = i + 1
  return wrk.format("GET", prefix .. "/things/" .. id, { ["Authorization"] = "Bearer " .. token })
end
