-- Applies a chunk of score cards (app/store/writer.py runs it; docs/redis.md "The writer").
--
-- KEYS: per card i (1-based): [2i-1] its user hash, [2i] its history hash, then, for n cards,
--   [2n+i] its daily snapshots hash (one slot on a cluster).
-- ARGV[1]: the changes channel; ARGV[2]: the history's TTL in seconds;
-- ARGV[3]: the score feed as JSON: null (off) or {by = producer id, marks = thresholds in tenths};
-- ARGV[4]: the cards as a JSON array of rows (kernel/src/cards.rs writes them), each
--   [user_id, day (the card's UTC day), first_kept_day (older history days are dropped),
--    band low, band high (with a feed: the levels the card's visible score allows,
--      app/scoring/thresholds.py; ignored without one),
--    snapshot (the day's snapshot as JSON text, app/scoring/attribution.py, stored with the
--      history day, trimmed and expired with it),
--    hash (the stored fields as HSET-ready {name, value, ...} pairs, app/store/card_fields.py,
--      which include score, updated_at and fence)].
--
-- A card is applied unless the stored fence is higher, or equal with a strictly newer
-- updated_at; an equal timestamp overwrites (the same card twice rewrites identical values and
-- publishes nothing). A card stored without a fence has fence 0.
--
-- Returns {applied, left}. applied: one entry per applied card: {position} (1-based), or, when
-- the card needs a feed record, {position, previous score or nil, level before, level after,
-- and, when the levels differ (the record crosses thresholds and its driver compares the two
-- cards), the replaced card's updated_at, score, raw, components and curve_version (nil for a
-- first score)}. left (#31): {position, the stored card's topics, comma-separated} for each
-- applied card whose influential_about names other topics than the stored card's did, so the
-- writer can take the user off the boards of the topics it left. A card needs a record
-- when its visible score changed, or when the user's last record was made by another producer
-- and never confirmed delivered (feed_by): that producer may have died before sending it, so
-- the record is made again from where that one started. The level after is the level before
-- clamped into the card's band: the one home of the hysteresis rule.
local channel, ttl = ARGV[1], ARGV[2]
local feed = cjson.decode(ARGV[3])
local cards = cjson.decode(ARGV[4])
local applied, left = {}, {}
-- The topic slugs of an influential_about JSON array, sorted and comma-separated (slugs hold
-- no quote or comma).
local function topics_of(about)
  local topics = {}
  for topic in string.gmatch(about or '', '"topic":"([^"]*)"') do topics[#topics + 1] = topic end
  table.sort(topics)
  return table.concat(topics, ',')
end
for i, card in ipairs(cards) do
  local user_id, day, first_kept_day, low, high, snapshot, fields = unpack(card)
  local user_key, history_key = KEYS[2 * i - 1], KEYS[2 * i]
  local snapshots_key = KEYS[2 * #cards + i]
  local new = {}
  for j = 1, #fields, 2 do new[fields[j]] = fields[j + 1] end
  local score, updated_at = new.score, new.updated_at
  local stored = redis.call('HMGET', user_key, 'updated_at', 'score', 'fence', 'feed_level',
    'feed_by', 'feed_previous', 'feed_from_level', 'raw', 'components', 'curve_version',
    'influential_about')
  local fence, stored_fence = tonumber(new.fence), tonumber(stored[3] or '0')
  if (not stored[1]) or fence > stored_fence
      or (fence == stored_fence and tonumber(stored[1]) <= tonumber(updated_at)) then
    local before = topics_of(stored[11])
    if before ~= '' and before ~= topics_of(new.influential_about) then
      left[#left + 1] = {i, before}
    end
    local entry = {i}
    if feed ~= cjson.null then
      local level = tonumber(stored[4])
      if not level then  -- scored before the feed: the thresholds its score reaches
        level = 0
        for _, mark in ipairs(feed.marks) do
          if stored[2] and math.floor(tonumber(stored[2]) * 10 + 0.5) >= mark then
            level = level + 1
          end
        end
      end
      local lost = stored[5] and stored[5] ~= feed.by
      if lost or stored[2] ~= score then
        local previous, from = stored[2], level
        if lost then previous, from = stored[6], tonumber(stored[7]) end
        if previous == '' then previous = false end  -- '': the record of a first score
        local after = math.min(math.max(level, low), high)
        for _, v in ipairs({'feed_level', after, 'feed_from_level', from, 'feed_by', feed.by,
            'feed_at', updated_at, 'feed_previous', previous or ''}) do
          fields[#fields + 1] = v
        end
        entry = {i, previous, from, after}
        if after ~= from then
          -- the card this one replaces, for the driver of the record's crossings (false: a
          -- first score); a record that crosses no threshold has no driver
          for _, v in ipairs({stored[1] or false, stored[2] or false, stored[8] or false,
              stored[9] or false, stored[10] or false}) do
            entry[#entry + 1] = v
          end
        end
      end
    end
    redis.call('HSET', user_key, unpack(fields))
    redis.call('HSET', snapshots_key, day, snapshot)
    if redis.call('HSET', history_key, day, score) == 1 then
      for _, key in ipairs({history_key, snapshots_key}) do
        for _, kept in ipairs(redis.call('HKEYS', key)) do
          if kept < first_kept_day then redis.call('HDEL', key, kept) end
        end
      end
    end
    redis.call('EXPIRE', history_key, ttl)
    redis.call('EXPIRE', snapshots_key, ttl)
    if stored[2] ~= score then  -- the stored texts are JSON numbers already
      redis.call('PUBLISH', channel, '{"user_id":' .. cjson.encode(user_id) .. ',"score":'
        .. score .. ',"previous":' .. (stored[2] or 'null') .. ',"updated_at":' .. updated_at
        .. '}')
    end
    applied[#applied + 1] = entry
  end
end
return {applied, left}
