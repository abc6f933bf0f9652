import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where log lines go: a bounded buffer that a thread of its own drains in batches, so that a
/// request never waits for stderr (a synchronous write per line cost a cached GET a system call,
/// and a slow reader of stderr would have stalled every request). A full buffer drops the line and
/// counts it (`ams_log_lines_dropped_total`), never waits. What is buffered is written when the
/// process exits (`standardError` flushes at exit, whichever command ran) or on `flush`.
/// Every mutable field is guarded by `condition`.
final class LogSink: @unchecked Sendable {
    /// 1 MiB: some 3,000 access-log lines, a quarter of a second of a busy replica's log that the
    /// writer may fall behind before lines are dropped, and memory that stays small when stderr
    /// stalls (as much again is held while a batch is written).
    static let capacity = 1 << 20

    /// The process's stderr.
    static let standardError: LogSink = {
        let sink = LogSink(descriptor: 2)
        atexit { _ = LogSink.standardError.flush(within: .seconds(5)) }
        return sink
    }()

    /// Microseconds the writer rests after a batch: a busy replica's lines are written 200 times a
    /// second, some 60 at a time.
    static let rest: UInt32 = 5_000

    private let descriptor: Int32
    private let capacity: Int
    private let condition = NSCondition()
    private var pending: [UInt8] = []
    private var pendingLines = 0
    /// Lines taken in and lines written (or lost to a failed write) since the sink was made.
    private var taken = 0
    private var written = 0
    private var droppedLines = 0
    private var idle = false
    private var flushing = 0
    private var closed = false

    /// A sink writing to `descriptor`; its writer thread runs until `close`.
    init(descriptor: Int32, capacity: Int = LogSink.capacity) {
        self.descriptor = descriptor
        self.capacity = capacity
        Thread.detachNewThread { self.drain() }
    }

    /// Buffers a line (ending in a newline), or drops it when the buffer is full or the sink closed.
    func write(_ line: [UInt8]) {
        condition.lock()
        defer { condition.unlock() }
        guard !closed, pending.count + line.count <= capacity else {
            droppedLines += 1
            return
        }
        let wake = idle && pending.isEmpty
        pending.append(contentsOf: line)
        pendingLines += 1
        taken += 1
        guard wake else { return }
        // Callers of `flush` wait on the same condition: a signal could wake one of them instead.
        if flushing > 0 { condition.broadcast() } else { condition.signal() }
    }

    /// Lines dropped since the sink was made: the buffer was full, or the descriptor refused them.
    var dropped: Int {
        condition.lock()
        defer { condition.unlock() }
        return droppedLines
    }

    /// Waits until every line buffered before the call is written; `false` if that took longer
    /// than `timeout` (stderr stalled).
    @discardableResult
    func flush(within timeout: Duration = .seconds(5)) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        let target = taken
        flushing += 1
        defer { flushing -= 1 }
        while written < target {
            guard condition.wait(until: deadline) else { return written >= target }
        }
        return true
    }

    /// Writes what is buffered and stops the writer thread; later lines are dropped.
    func close() {
        flush()
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// The writer thread: takes everything buffered at once and writes it with as few system calls
    /// as the descriptor allows.
    private func drain() {
        var batch: [UInt8] = []
        while true {
            condition.lock()
            while pending.isEmpty && !closed {
                idle = true
                condition.wait()
                idle = false
            }
            if pending.isEmpty {
                condition.unlock()
                return
            }
            swap(&batch, &pending)
            let lines = pendingLines
            pendingLines = 0
            condition.unlock()
            let complete = Self.writeAll(batch, to: descriptor)
            // A burst's large buffer is not kept for good.
            if batch.capacity > 1 << 16 { batch = [] } else { batch.removeAll(keepingCapacity: true) }
            condition.lock()
            written += lines
            if !complete { droppedLines += lines }
            if flushing > 0 { condition.broadcast() }
            let more = flushing > 0 || closed
            condition.unlock()
            // Lines gather while the writer rests: waking it for each line (a futex call for the
            // request that logs it, a context switch and a write for the writer) cost a busy
            // replica more than the synchronous write did.
            if !more { usleep(Self.rest) }
        }
    }

    /// Writes all of `bytes`, resuming after partial writes and interruptions; `false` if the
    /// descriptor refused them (the rest of the batch is lost).
    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
    }
}
