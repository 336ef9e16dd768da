import FunctionRuntime
import WXAuth
import WXAuthPostgres

FunctionHarness.start(name: "admin", settings: .wxauth) {
    Functions.definition(.admin, environment: $0, postgres: PostgresStore.opener)
}
