import FunctionRuntime
import WXAuth

// Before anything else: a PostgreSQL configuration runs wxauth-postgres in this process's place.
let handOffFailure = Functions.handOffToPostgresIfConfigured(.admin)
FunctionHarness.start(name: "admin") {
    Functions.definition(.admin, environment: $0, handOffFailure: handOffFailure)
}
