import FunctionRuntime
import WXAuth
import WXAuthPostgres

FunctionHarness.start(name: "callback") {
    Functions.definition(.callback, environment: $0, postgres: PostgresStore.opener)
}
