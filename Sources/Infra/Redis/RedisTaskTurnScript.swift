import Domain

/// A tenant's turn as one script, so that taking the lease, claiming the pending entries and
/// reading new ones cost one round trip: the lease first (nothing more while another process holds
/// it; one already the holder's is taken again, so that a release lost while Redis was away does
/// not lock the process out of its own tenant until expiry), then per queue an `XAUTOCLAIM` of
/// every pending entry and, only when none was left behind, an `XREADGROUP` of new ones up to the
/// batch. The first error stops the script and is its reply.
enum RedisTaskTurnScript {
    /// KEYS: the lease, then the queues; ARGV: holder, term, group, consumer, batch. Answers 0 when
    /// another holds the lease, else per queue `{cursor, claimed entries, read reply or nil}`.
    static func command(lease: String, queues: [String], holder: String, term: Duration, consumer: String, batch: Int) -> [String] {
        ["EVAL", script, String(1 + queues.count), lease] + queues + [holder, String(term.milliseconds), TaskQueue.group, consumer, String(batch)]
    }

    private static let script = """
        local owner = redis.call('GET', KEYS[1])
        if owner and owner ~= ARGV[1] then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        local batch = tonumber(ARGV[5])
        local turn = {}
        for k = 2, #KEYS do
          local claimed = redis.pcall('XAUTOCLAIM', KEYS[k], ARGV[3], ARGV[4], '0', '0-0', 'COUNT', batch)
          if claimed.err then return claimed end
          local read = false
          local room = batch - #claimed[2]
          if claimed[1] == '0-0' and room > 0 then
            read = redis.pcall('XREADGROUP', 'GROUP', ARGV[3], ARGV[4], 'COUNT', room, 'STREAMS', KEYS[k], '>')
            if type(read) == 'table' and read.err then return read end
          end
          turn[#turn + 1] = {claimed[1], claimed[2], read}
        end
        return turn
        """
}
