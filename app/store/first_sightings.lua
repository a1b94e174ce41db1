-- Counts each event id once per window (app/store/dedupe.py, EventDeduplicator).
--
-- KEYS: the ids' seen keys (one slot on a cluster); ARGV[1]: the window in seconds;
-- ARGV[1 + i]: the Kafka position KEYS[i]'s event was read at.
-- Returns per key 1 (it counts: a first sighting, or the same position again after a crash) or
-- 0 (a re-send of an id already seen at another position).
local window = ARGV[1]
local verdicts = {}
for i, key in ipairs(KEYS) do
  local position = ARGV[i + 1]
  local seen = redis.call('SET', key, position, 'NX', 'GET', 'EX', window)
  if seen and seen ~= position then verdicts[i] = 0 else verdicts[i] = 1 end
end
return verdicts
