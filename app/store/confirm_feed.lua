-- Marks score feed records as delivered (app/store/writer.py, ScoreWriter.confirm_feed).
--
-- KEYS: user hashes (one slot on a cluster); ARGV[1]: the producer id; ARGV[1 + i]: the
-- updated_at of the record delivered for KEYS[i]. Clears the user's unconfirmed-record mark
-- (feed_by, feed_at) unless a newer record replaced it.
for i, key in ipairs(KEYS) do
  local mark = redis.call('HMGET', key, 'feed_by', 'feed_at')
  if mark[1] == ARGV[1] and mark[2] == ARGV[i + 1] then
    redis.call('HDEL', key, 'feed_by', 'feed_at')
  end
end
return 0
