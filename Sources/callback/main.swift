import FunctionRuntime
import WXAuth

// Before anything else: a PostgreSQL configuration runs wxauth-postgres in this process's place.
let handOffFailure = Functions.handOffToPostgresIfConfigured(.callback)
FunctionHarness.start(name: "callback") {
    Functions.definition(.callback, environment: $0, handOffFailure: handOffFailure)
}
