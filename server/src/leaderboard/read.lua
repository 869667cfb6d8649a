-- Reads a slice of one board with the players' names, atomically. Board
-- order is ascending stored score (the negated composite), then member
-- ascending: exactly ZRANGE's order, so positions are ZRANK's.
--
-- KEYS[1]  the board's sorted set
-- KEYS[2]  the names hash
-- ARGV     what to read, one of:
--   'top', limit
--   'rank', member                   (the member's entry alone)
--   'around', member, k              (the member's entry with k on each side)
--   'centred', member, limit         (limit entries centred on the member,
--                                     filled up at the board's ends: the
--                                     same as centred_start in mod.rs)
--   'after', stored score, member, limit
--                                    (entries after that position, where a
--                                     cursor's entry was when handed out)
--
-- Returns {total, start, then member, stored score, name for each entry},
-- all strings; start is -1, with no entries, when the member is not on the
-- board.

local total = redis.call('ZCARD', KEYS[1])
local mode = ARGV[1]
local start, stop
if mode == 'top' then
  start = 0
  stop = tonumber(ARGV[2]) - 1
elseif mode == 'after' then
  local score, member = ARGV[2], ARGV[3]
  local current = redis.call('ZSCORE', KEYS[1], member)
  if current and tonumber(current) == tonumber(score) then
    start = redis.call('ZRANK', KEYS[1], member) + 1
  else
    -- The cursor's entry has moved or left: count what sorts before its old
    -- place. Members are fixed-width lowercase hex, which compare the same
    -- under any collation Redis may run Lua with.
    start = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. score)
    for _, m in ipairs(redis.call('ZRANGE', KEYS[1], score, score, 'BYSCORE')) do
      if m < member then
        start = start + 1
      else
        break
      end
    end
  end
  stop = start + tonumber(ARGV[4]) - 1
elseif mode == 'rank' or mode == 'around' then
  local rank = redis.call('ZRANK', KEYS[1], ARGV[2])
  if not rank then
    return {tostring(total), '-1'}
  end
  local k = tonumber(ARGV[3] or '0')
  start = math.max(0, rank - k)
  stop = rank + k
elseif mode == 'centred' then
  local rank = redis.call('ZRANK', KEYS[1], ARGV[2])
  if not rank then
    return {tostring(total), '-1'}
  end
  local limit = tonumber(ARGV[3])
  start = math.max(0, math.min(rank - math.floor((limit - 1) / 2), total - limit))
  stop = start + limit - 1
else
  return redis.error_reply('unknown leaderboard read ' .. tostring(mode))
end

local out = {tostring(total), tostring(start)}
local flat = redis.call('ZRANGE', KEYS[1], start, stop, 'WITHSCORES')
if #flat == 0 then
  return out
end
local members = {}
for i = 1, #flat, 2 do
  members[#members + 1] = flat[i]
end
local names = redis.call('HMGET', KEYS[2], unpack(members))
for i = 1, #members do
  out[#out + 1] = members[i]
  out[#out + 1] = flat[2 * i]
  out[#out + 1] = names[i] or ''
end
return out
