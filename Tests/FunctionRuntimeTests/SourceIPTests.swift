import Foundation
import FunctionRuntime
import Testing

/// The client's address, which the web callback compares on repeats (CONTRACT §4), from each event shape.
@Suite struct SourceIPTests {
    let harness = FunctionHarness(functionName: "test")

    func sourceIP(of event: String) async throws -> String? {
        let seen: FunctionHandler = { request, _ in
            FunctionResponse(statusCode: 200, headers: [:], body: request.sourceIP ?? "none")
        }
        let bytes = await harness.respond(to: Array(event.utf8), handler: seen)
        let response = try JSONDecoder().decode(FunctionResponse.self, from: Data(bytes))
        #expect(response.statusCode == 200, "\(response.body)")
        return response.body == "none" ? nil : response.body
    }

    @Test func fromEveryEventShape() async throws {
        let v2 =
            #"{"version":"2.0","rawPath":"/callback","requestContext":{"http":{"method":"GET","sourceIp":"203.0.113.7"}}}"#
        #expect(try await sourceIP(of: v2) == "203.0.113.7")
        let v1 = #"{"httpMethod":"GET","path":"/callback","requestContext":{"identity":{"sourceIp":"198.51.100.2"}}}"#
        #expect(try await sourceIP(of: v1) == "198.51.100.2")
        let scf = #"{"httpMethod":"GET","path":"/callback","requestContext":{"sourceIp":"192.0.2.5","identity":{}}}"#
        #expect(try await sourceIP(of: scf) == "192.0.2.5")
        let none = #"{"httpMethod":"GET","path":"/callback"}"#
        #expect(try await sourceIP(of: none) == nil)
    }
}
