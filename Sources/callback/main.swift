import FunctionRuntime
import WXAuth

// Before anything else: a PostgreSQL configuration runs wxauth-postgres in this process's place.
let handOffFailure = Functions.handOffToPostgresIfConfigured(.callback)
await FunctionHarness.main(name: "callback") {
    Functions.definition(.callback, environment: $0, handOffFailure: handOffFailure)
}
