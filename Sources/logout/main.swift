import FunctionRuntime
import WXAuth

// Before anything else: a PostgreSQL configuration runs wxauth-postgres in this process's place.
let handOffFailure = Functions.handOffToPostgresIfConfigured(.logout)
FunctionHarness.start(name: "logout") {
    Functions.definition(.logout, environment: $0, handOffFailure: handOffFailure)
}
