-- One shard's part of a rank on a sharded leaderboard (app/store/leaderboard.py).
--
-- KEYS[1]: the shard (a sorted set); ARGV[1]: a raw.
-- Returns {members with a higher raw, members with this raw, members}.
local higher = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
local equal = redis.call('ZCOUNT', KEYS[1], ARGV[1], ARGV[1])
return {higher, equal, redis.call('ZCARD', KEYS[1])}
