import FunctionRuntime
import WXAuth

// Before anything else: a PostgreSQL configuration runs wxauth-postgres in this process's place.
let handOffFailure = Functions.handOffToPostgresIfConfigured(.login)
await FunctionHarness.main(name: "login") {
    Functions.definition(.login, environment: $0, handOffFailure: handOffFailure)
}
