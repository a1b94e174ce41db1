-- Admits one API request against its key (app/store/api_keys.py, ApiKeyStore.admit).
--
-- KEYS[1]: the key's record hash; ARGV[1]: seconds per day (the quota's day, UTC).
-- Checks revocation, then charges the token bucket and the daily quota on the Redis server's
-- clock (TIME), so API processes on hosts whose clocks disagree share one bucket.
-- Returns {verdict, whole tokens left, ms to the next token, ms to a full bucket, requests used
-- today, seconds to the day's end}; verdicts as in app.access.Verdict. A refused request
-- charges nothing.
local f = redis.call('HMGET', KEYS[1], 'rate', 'daily', 'revoked', 'tokens', 'at_us', 'day', 'used')
if not f[1] then return {4, 0, 0, 0, 0, 0} end
if f[3] == '1' then return {3, 0, 0, 0, 0, 0} end
local rate = tonumber(f[1])
local daily = tonumber(f[2])
local day_s = tonumber(ARGV[1])
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec * 1000000 + tonumber(t[2])
local tokens = rate
if f[4] and f[5] then
  tokens = math.min(rate, tonumber(f[4]) + (now - tonumber(f[5])) * rate / 1000000)
end
local day = math.floor(sec / day_s)
local used = 0
if tonumber(f[6]) == day then used = tonumber(f[7]) end
local verdict = 0
if used >= daily then
  verdict = 2
elseif tokens < 1 then
  verdict = 1
else
  tokens = tokens - 1
  used = used + 1
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
    'at_us', string.format('%.0f', now), 'day', tostring(day), 'used', tostring(used))
end
local next_ms = 0
if tokens < 1 then next_ms = math.ceil((1 - tokens) * 1000 / rate) end
return {verdict, math.floor(tokens), next_ms, math.ceil((rate - tokens) * 1000 / rate), used,
  (day + 1) * day_s - sec}
