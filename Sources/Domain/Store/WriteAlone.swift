/// A create of a batch that wrote nothing and must be written alone, to wait or fail as a single
/// create does, without holding up the rest of its batch.
public struct WriteAlone: Error {
    public init() {}
}
