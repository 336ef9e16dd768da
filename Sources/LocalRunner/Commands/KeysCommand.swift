import ArgumentParser
import Foundation
import WXAuth

/// `local-runner keys`: private JWK Sets for `WXAUTH_SIGNING_KEYS` (and `WXAUTH_DATA_KEYS`), and their public JWKS.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make, rotate and publish signing keys (WXAUTH_SIGNING_KEYS) and data keys (WXAUTH_DATA_KEYS).",
        discussion: """
            A key set is a private JWK Set: the first key signs (or seals), every key verifies (or opens).
            Rotate by putting a new key first, deploying, and removing the old key once its tokens have expired.
            """,
        subcommands: [New.self, Rotate.self, Public.self]
    )

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new private JWK Set of one key (file mode 0600).",
            discussion: "--alg A256GCM makes a 32-byte key for WXAUTH_DATA_KEYS; the others are signing keys."
        )

        @Option(help: "ES256, EdDSA, RS256, HS256, or A256GCM for a data key.")
        var alg = "ES256"

        @Option(help: "The key's kid (default: the algorithm and random hex).")
        var kid: String?

        @Option(help: "The file to create (mode 0600; never overwritten), or - for stdout.")
        var output = "-"

        func run() throws {
            let set = try KeysCommand.attempt { () throws(KeyGeneration.Failure) in
                try KeyGeneration.keySet(first: try KeyGeneration.newJWK(algorithm: alg, kid: kid), then: nil)
            }
            if output == "-" {
                Console.write(Array(set.utf8), to: 1)
            } else {
                try KeysCommand.writePrivate(set, to: output, replacing: false)
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put a new key first in a key set file, keeping the others (which still verify or open)."
        )

        @Option(help: "The private JWK Set file to rotate in place.")
        var file: String

        @Option(help: "The new key's algorithm (default: the current first key's).")
        var alg: String?

        @Option(help: "The new key's kid (default: the algorithm and random hex).")
        var kid: String?

        func run() throws {
            let existing = try KeysCommand.read(file)
            let algorithm = alg ?? KeyGeneration.firstAlgorithm(of: existing) ?? "ES256"
            let set = try KeysCommand.attempt { () throws(KeyGeneration.Failure) in
                try KeyGeneration.keySet(
                    first: try KeyGeneration.newJWK(algorithm: algorithm, kid: kid),
                    then: existing
                )
            }
            try KeysCommand.writePrivate(set, to: file, replacing: true)
            Console.error(
                "local-runner: \(file): a new \(algorithm) key is first; remove an old key once its tokens have expired"
            )
        }
    }

    struct Public: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the public JWKS of a signing key set: what GET /.well-known/jwks.json serves."
        )

        @Option(help: "The private JWK Set file (WXAUTH_SIGNING_KEYS).")
        var file: String

        func run() throws {
            let text = try KeysCommand.read(file)
            do {
                Console.out(try SigningKeySet(jwkSet: text).publicJWKSet)
            } catch {
                Console.error("local-runner: \(file): \(error.description)")
                throw ExitCode(1)
            }
        }
    }

    static func attempt(_ body: () throws(KeyGeneration.Failure) -> String) throws -> String {
        do {
            return try body()
        } catch {
            Console.error("local-runner: \(error.description)")
            throw ExitCode(1)
        }
    }

    static func read(_ path: String) throws -> String {
        do {
            return try LocalFile.text(path)
        } catch {
            Console.error("local-runner: cannot read \(path): \(error.reason)")
            throw ExitCode(1)
        }
    }

    /// Writes a private key set readable by its owner alone. A new file is never put over an existing one;
    /// a rotation writes a 0600 temporary file beside it and renames it into place, so a crash leaves either set.
    static func writePrivate(_ text: String, to path: String, replacing: Bool) throws {
        let target = replacing ? path + ".new" : path
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            Console.error(
                "local-runner: cannot create \(target): \(reason)\(replacing ? "" : " (use keys rotate to add a key)")"
            )
            throw ExitCode(1)
        }
        Console.write(Array(text.utf8), to: fd)
        let synced = fsync(fd) == 0
        close(fd)
        guard synced, !replacing || rename(target, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(target)
            Console.error("local-runner: cannot write \(path): \(reason)")
            throw ExitCode(1)
        }
    }
}
