@testable import LocalRunner

extension FunctionServer {
    /// Runs `body` against this started server, then stops it, whether `body` threw or not.
    func stopping(after body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            await self.stop()
            throw error
        }
        await self.stop()
    }
}
