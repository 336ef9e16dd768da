import AsyncHTTPClient
import Foundation
import Testing
import WeChatSandbox

@Suite("faults injected through the control API")
struct FaultTests {
    @Test("an errcode fault answers N times, leaves the code unspent, then normal service resumes")
    func errcodeTimesN() async throws {
        try await Sandbox.with { sandbox in
            let code = try await sandbox.newCode()
            try await sandbox.addFault(#"{"endpoint": "/sns/jscode2session", "errcode": -1, "times": 2}"#)

            for _ in 0..<2 {
                let busy = try await sandbox.exchange(code: code)
                #expect(busy.status == 200)
                #expect(busy.errcode == -1)
                #expect((busy.answer.errmsg)?.hasPrefix("system error") == true)
            }
            let ok = try await sandbox.exchange(code: code)
            #expect(ok.errcode == nil)
            #expect(ok.answer.openid != nil)
        }
    }

    @Test("an errcode fault can carry its own errmsg")
    func errcodeWithErrmsg() async throws {
        try await Sandbox.with { sandbox in
            try await sandbox.addFault(#"{"endpoint": "/sns/jscode2session", "errcode": 45011, "errmsg": "slow down"}"#)
            let result = try await sandbox.exchange(code: "anything")
            #expect(result.errcode == 45011)
            #expect(result.answer.errmsg == "slow down")
        }
    }

    @Test("a status fault answers that HTTP status once")
    func status503() async throws {
        try await Sandbox.with { sandbox in
            let code = try await sandbox.newCode()
            try await sandbox.addFault(#"{"endpoint": "/sns/jscode2session", "status": 503}"#)
            let unavailable = try await sandbox.exchange(code: code)
            #expect(unavailable.status == 503)
            #expect(unavailable.errcode == nil)
            #expect(try await sandbox.exchange(code: code).errcode == nil)
        }
    }

    @Test("a delay fault waits, then answers normally")
    func delay() async throws {
        try await Sandbox.with { sandbox in
            let code = try await sandbox.newCode()
            try await sandbox.addFault(#"{"endpoint": "/sns/jscode2session", "delay_ms": 100}"#)
            let started = ContinuousClock.now
            let result = try await sandbox.exchange(code: code)
            #expect(ContinuousClock.now - started >= .milliseconds(100))
            #expect(result.errcode == nil)
            #expect(result.answer.sessionKey != nil)
        }
    }

    @Test("a delay longer than the client's timeout makes the client give up")
    func delayPastTimeout() async throws {
        try await Sandbox.with { sandbox in
            try await sandbox.addFault(#"{"endpoint": "/sns/jscode2session", "delay_ms": 500}"#)
            await #expect(throws: HTTPClientError.self) {
                _ = try await sandbox.exchange(code: "x", timeout: .milliseconds(100))
            }
        }
    }

    @Test("a drop fault closes the connection without a response, then normal service resumes")
    func drop() async throws {
        try await Sandbox.with { sandbox in
            let code = try await sandbox.newCode()
            try await sandbox.addFault(#"{"endpoint": "/sns/jscode2session", "drop": true}"#)
            let error = await #expect(throws: HTTPClientError.self) {
                _ = try await sandbox.exchange(code: code)
            }
            #expect(error == .remoteConnectionClosed)
            #expect(try await sandbox.exchange(code: code).errcode == nil)
        }
    }

    @Test("faults queue per endpoint and are applied in order")
    func queueOrder() async throws {
        try await Sandbox.with { sandbox in
            try await sandbox.addFault(#"{"endpoint": "/sns/jscode2session", "errcode": -1}"#)
            try await sandbox.addFault(#"{"endpoint": "/sns/jscode2session", "status": 502}"#)
            try await sandbox.addFault(#"{"endpoint": "/sns/other", "errcode": 45011}"#)
            #expect(try await sandbox.exchange(code: "x").errcode == -1)
            #expect(try await sandbox.exchange(code: "x").status == 502)
            #expect(try await sandbox.exchange(code: "x").errcode == 40029)
        }
    }

    @Test("DELETE /sandbox/faults clears every queued fault")
    func clear() async throws {
        try await Sandbox.with { sandbox in
            try await sandbox.addFault(#"{"endpoint": "/sns/jscode2session", "errcode": -1, "times": 5}"#)
            #expect(try await sandbox.delete("/sandbox/faults").status == 204)
            #expect(try await sandbox.exchange(code: "x").errcode == 40029)
        }
    }

    @Test(
        "malformed faults are refused with 400",
        arguments: [
            #"{"times": 1}"#,
            #"{"endpoint": "sns/jscode2session"}"#,
            #"{"endpoint": "/sns/jscode2session", "times": 0}"#,
            #"{"endpoint": "/sns/jscode2session", "status": 42}"#,
            #"{"endpoint": "/sns/jscode2session", "times": "two"}"#,
            "not json",
        ]
    )
    func malformed(_ body: String) async throws {
        try await Sandbox.with { sandbox in
            let result = try await sandbox.post("/sandbox/faults", json: body)
            #expect(result.status == 400)
            #expect(result.answer.error != nil)
        }
    }

    @Test("calls are counted per endpoint, faulted ones included, and can be reset")
    func callCounts() async throws {
        try await Sandbox.with { sandbox in
            #expect(try await sandbox.calls()["/sns/jscode2session"] == 0)
            try await sandbox.addFault(#"{"endpoint": "/sns/jscode2session", "errcode": -1}"#)
            _ = try await sandbox.exchange(code: "x")
            _ = try await sandbox.exchange(code: "y", appid: nil)
            _ = try await sandbox.exchange(code: "z", path: "/sns/jsCode2Session")
            #expect(try await sandbox.calls()["/sns/jscode2session"] == 2)

            #expect(try await sandbox.delete("/sandbox/calls").status == 204)
            #expect(try await sandbox.calls()["/sns/jscode2session"] == 0)
        }
    }
}
