-- Records one match on every board and period, atomically and at most once
-- per match id. Mirrors `next_composite` in score.rs; see mod.rs for the key
-- layout and the composite score.
--
-- KEYS[1]     the match's applied marker
-- KEYS[2]     the names hash
-- KEYS[3..]   one sorted set per board and period (scores: negated composites)
-- ARGV[1]     the marker's lifetime in ms
-- ARGV[2]     the time part of every composite written
-- ARGV[3]     n, the number of players
-- ARGV[4..]   n pairs: member (the player id, 16 hex digits), display name
-- then, for each sorted set in KEYS order: its operator ('increment', 'best'
-- or 'set'), its expiry in Unix ms ('' for none), and n values in player
-- order ('' where the player is not on this board)
--
-- Returns {'applied'}, {'duplicate'} (nothing written), or {'too_large', set
-- index (1 is KEYS[3]), player index, total} (nothing written).
--
-- Composites stay below 2^53, so Lua's doubles hold them exactly. Every
-- write is worked out before any is made, because a script that fails
-- halfway does not roll back what it already wrote.

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'duplicate'}
end

local SHIFT = 2147483648 -- 2^31: the composite's score starts above the time part
local MAX_SCORE = 4194303 -- 2^22 - 1
local time_part = tonumber(ARGV[2])
local n = tonumber(ARGV[3])

local writes = {}
local arg = 4 + 2 * n
for k = 3, #KEYS do
  local op = ARGV[arg]
  if op ~= 'increment' and op ~= 'best' and op ~= 'set' then
    return redis.error_reply('unknown leaderboard operator ' .. op)
  end
  for p = 1, n do
    local value = ARGV[arg + 1 + p]
    if value ~= '' then
      value = tonumber(value)
      local member = ARGV[2 + 2 * p]
      local stored = redis.call('ZSCORE', KEYS[k], member)
      local new = nil
      if not stored then
        new = value * SHIFT + time_part
      else
        local old = -tonumber(stored)
        local old_score = math.floor(old / SHIFT)
        if op == 'increment' then
          -- Adding nothing keeps when the total was reached.
          if value > 0 then
            local total = old_score + value
            if total > MAX_SCORE then
              return {'too_large', tostring(k - 2), tostring(p), string.format('%.0f', total)}
            end
            new = total * SHIFT + time_part
          end
        elseif op == 'best' then
          -- ZADD GT on the composite: an equal score reached later is smaller.
          local candidate = value * SHIFT + time_part
          if candidate > old then
            new = candidate
          end
        elseif old_score ~= value then
          -- 'set': an unchanged value keeps when it was first reached.
          new = value * SHIFT + time_part
        end
      end
      if new then
        writes[#writes + 1] = {k, new, member}
      end
    end
  end
  arg = arg + 2 + n
end

for _, w in ipairs(writes) do
  -- Formatted here so no number-to-string conversion can round it.
  redis.call('ZADD', KEYS[w[1]], string.format('%.0f', -w[2]), w[3])
end
arg = 4 + 2 * n
for k = 3, #KEYS do
  local expire_at = ARGV[arg + 1]
  if expire_at ~= '' then
    redis.call('PEXPIREAT', KEYS[k], expire_at)
  end
  arg = arg + 2 + n
end
for p = 1, n do
  redis.call('HSET', KEYS[2], ARGV[2 + 2 * p], ARGV[3 + 2 * p])
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return {'applied'}
