import Domain
import Testing

@Suite struct TenantIDTests {
    @Test func tenantIDsArePrintableAndBounded() {
        #expect(Tenant.isValidID("acme-01"))
        #expect(Tenant.isValidID("ünïcode"))
        #expect(Tenant.isValidID(String(repeating: "a", count: 128)))
        #expect(!Tenant.isValidID(String(repeating: "a", count: 129)))
        #expect(!Tenant.isValidID(""))
        #expect(!Tenant.isValidID("a b"))
        #expect(!Tenant.isValidID("a\u{7F}"))
        #expect(!Tenant.isValidID("a\u{85}"), "C1 controls are not printable")
        #expect(!Tenant.isValidID("a\u{9F}"))
    }
}
