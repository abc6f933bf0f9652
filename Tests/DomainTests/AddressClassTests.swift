import Domain
import Testing

/// The webhook address guard's classes, at their edges.
struct AddressClassTests {
    @Test(
        arguments: [
            ([127, 0, 0, 1], AddressClass.loopback), ([127, 255, 255, 254], .loopback),
            ([10, 0, 0, 1], .private), ([172, 16, 0, 1], .private), ([172, 31, 255, 255], .private), ([192, 168, 0, 1], .private),
            ([169, 254, 169, 254], .linkLocal), ([100, 64, 0, 1], .sharedNAT), ([100, 127, 255, 255], .sharedNAT),
            ([224, 0, 0, 1], .multicast), ([239, 255, 255, 250], .multicast), ([0, 0, 0, 0], .unspecified), ([0, 1, 2, 3], .unspecified),
            ([255, 255, 255, 255], .reserved), ([240, 0, 0, 1], .reserved), ([192, 0, 0, 8], .reserved),
            ([198, 18, 0, 0], .reserved), ([198, 19, 255, 255], .reserved), ([192, 0, 2, 1], .documentation),
            ([198, 51, 100, 7], .documentation), ([203, 0, 113, 255], .documentation),
        ] as [([UInt8], AddressClass)]
    )
    func refusedIPv4(_ address: [UInt8], _ kind: AddressClass) {
        #expect(AddressClass.of(address) == kind)
    }

    @Test(
        arguments: [
            [8, 8, 8, 8], [172, 15, 255, 255], [172, 32, 0, 0], [100, 63, 255, 255], [100, 128, 0, 0], [93, 184, 216, 34], [192, 169, 0, 1],
            [198, 17, 255, 255], [198, 20, 0, 0], [192, 0, 3, 1], [198, 51, 101, 1], [203, 0, 112, 1],
        ] as [[UInt8]]
    )
    func publicIPv4(_ address: [UInt8]) {
        #expect(AddressClass.of(address) == nil)
    }

    private func v6(_ head: [UInt8], tail: [UInt8] = []) -> [UInt8] {
        head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    @Test func ipv6Classes() {
        #expect(AddressClass.of(v6([], tail: [1])) == .loopback)
        #expect(AddressClass.of(v6([])) == .unspecified)
        #expect(AddressClass.of(v6([0xFD, 0])) == .uniqueLocal)
        #expect(AddressClass.of(v6([0xFC, 0])) == .uniqueLocal)
        #expect(AddressClass.of(v6([0xFE, 0x80])) == .linkLocal)
        #expect(AddressClass.of(v6([0xFE, 0xBF])) == .linkLocal)
        #expect(AddressClass.of(v6([0xFF, 0x02], tail: [1])) == .multicast)
        // IPv4 inside IPv6 is judged as the IPv4 address.
        #expect(AddressClass.of(v6([], tail: [0xFF, 0xFF, 127, 0, 0, 1])) == .loopback)
        #expect(AddressClass.of(v6([], tail: [0xFF, 0xFF, 10, 0, 0, 1])) == .private)
        #expect(AddressClass.of(v6([0, 0x64, 0xFF, 0x9B], tail: [169, 254, 0, 1])) == .linkLocal)
        #expect(AddressClass.of(v6([], tail: [0xFF, 0xFF, 8, 8, 8, 8])) == nil)
        #expect(AddressClass.of(v6([], tail: [127, 0, 0, 1])) == .loopback, "IPv4-compatible ::127.0.0.1")
        #expect(AddressClass.of(v6([], tail: [10, 1, 2, 3])) == .private, "IPv4-compatible ::10.1.2.3")
        #expect(AddressClass.of(v6([0, 0x64, 0xFF, 0x9B, 0, 1], tail: [8, 8, 8, 8])) == .reserved, "local-use NAT64")
        #expect(AddressClass.of(v6([0xFE, 0xC0])) == .private, "site-local")
        // 6to4 and Teredo (whose client address is inverted) are judged by the IPv4 they carry.
        #expect(AddressClass.of(v6([0x20, 0x02, 127, 0, 0, 1])) == .loopback)
        #expect(AddressClass.of(v6([0x20, 0x02, 8, 8, 8, 8])) == nil)
        #expect(AddressClass.of(v6([0x20, 0x01, 0, 0, 0x41, 0x36], tail: [0x80, 0xFF, 0xFF, 0xFE])) == .loopback)
        #expect(AddressClass.of(v6([0x20, 0x01, 0, 0], tail: [0xF7, 0xF7, 0xF7, 0xF7])) == nil, "client 8.8.8.8")
        #expect(AddressClass.of(v6([0x20, 0x01, 0x0D, 0xB8], tail: [1])) == .documentation)
        #expect(AddressClass.of(v6([0x20, 0x01, 0x0D, 0xB9], tail: [1])) == nil)
        #expect(AddressClass.of(v6([0x3F, 0xFF, 0x0F], tail: [1])) == .documentation)
        #expect(AddressClass.of(v6([0x3F, 0xFE], tail: [1])) == nil)
        #expect(AddressClass.of(v6([0x3F, 0xFF, 0x10], tail: [1])) == nil, "3fff:1000:: is past the /20")
        // Public: 2001:db8-free global unicast.
        #expect(AddressClass.of(v6([0x26, 0x06, 0x47, 0x00], tail: [0x11])) == nil)
        #expect(AddressClass.of([1, 2, 3]) == .reserved, "neither 4 nor 16 bytes")
    }

    @Test func theRetryScheduleGivesOneAttemptMoreThanWaits() {
        let schedule = RetrySchedule(delays: [.milliseconds(200), .milliseconds(400)])
        #expect(schedule.attempts == 3)
        #expect(schedule.delay(after: 1) == .milliseconds(200) && schedule.delay(after: 2) == .milliseconds(400) && schedule.delay(after: 3) == nil)
        #expect(RetrySchedule.standard.attempts == 8)
        #expect(RetrySchedule.standard.delays.first == .seconds(1) && RetrySchedule.standard.delays.last == .seconds(4096))
    }
}
