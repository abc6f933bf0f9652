/// A `Duration` in the whole units that Postgres intervals, Redis arguments and NIO timers take.
extension Duration {
    /// Whole nanoseconds (NIO's `TimeAmount`, `DispatchTime`).
    public var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
    /// Whole milliseconds (Redis `PX`, `XAUTOCLAIM` idle times, `statement_timeout`).
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
    /// Fractional seconds (Postgres `make_interval(secs => …)`).
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
