import FunctionRuntime
import WXAuth

// Before anything else: a PostgreSQL configuration runs wxauth-postgres in this process's place.
let handOffFailure = Functions.handOffToPostgresIfConfigured(.login)
FunctionHarness.start(name: "login") {
    Functions.definition(.login, environment: $0, handOffFailure: handOffFailure)
}
