// The seed's stack doing wxauth's job, for Benchmarks/run to measure side by side: Go, golang-jwt,
// mattn/go-sqlite3 or lib/pq. One event on stdin, one response on stdout, like the Swift functions.
//
// The function is argv[1] (userinfo, login or refresh). Settings come from the environment the Swift
// functions read: WECHAT_APPID, WECHAT_SECRET, WECHAT_API_BASE, WXAUTH_JWT_SECRET, WXAUTH_DATABASE_URL
// (sqlite:PATH or postgres://…). Its tables are its own (prefixed ref_), so it never reads wxauth's.
//
// The work is the same as wxauth's: userinfo verifies the HS256 token (algorithm pinned, iss, aud, exp),
// reads the session and the user and refuses a revoked session; login exchanges the code at
// jscode2session, seals the session_key with AES-GCM, upserts the user, creates a session family and a
// refresh token stored as its SHA-256 hash, and signs an access token; refresh spends the token with one
// conditional update (a spent token revokes its family) and issues new tokens.
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt"
	_ "github.com/lib/pq"
	_ "github.com/mattn/go-sqlite3"
)

type event struct {
	Headers        map[string]string `json:"headers"`
	Body           *string           `json:"body"`
	RequestContext struct {
		HTTP struct {
			Method string `json:"method"`
		} `json:"http"`
	} `json:"requestContext"`
}

type response struct {
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

type claims struct {
	Sid string `json:"sid"`
	jwt.RegisteredClaims
}

type store struct {
	db       *sql.DB
	postgres bool
}

func main() {
	out := json.NewEncoder(os.Stdout)
	input, err := io.ReadAll(io.LimitReader(os.Stdin, 6<<20+1))
	var ev event
	if err != nil || len(input) > 6<<20 || json.Unmarshal(input, &ev) != nil {
		_ = out.Encode(errorResponse(400, "invalid_request", "the event is not JSON"))
		return
	}
	if len(os.Args) < 2 {
		_ = out.Encode(errorResponse(500, "server_error", "usage: wxauth-ref userinfo|login|refresh"))
		return
	}
	s, err := open(os.Getenv("WXAUTH_DATABASE_URL"))
	if err != nil {
		_ = out.Encode(errorResponse(500, "server_error", "the database cannot be opened"))
		return
	}
	// No Close: like the Swift functions, the process just exits. Closing the last connection to an SQLite
	// database in WAL mode checkpoints it (writes and fsyncs), work wxauth's processes do not do.
	var result response
	switch os.Args[1] {
	case "userinfo":
		result = userinfo(s, ev)
	case "login":
		result = login(s, ev)
	case "refresh":
		result = refresh(s, ev)
	default:
		result = errorResponse(500, "server_error", "unknown function")
	}
	_ = out.Encode(result)
}

// MARK: functions

func userinfo(s *store, ev event) response {
	bearer := strings.TrimPrefix(ev.Headers["authorization"], "Bearer ")
	var c claims
	_, err := jwt.ParseWithClaims(bearer, &c, func(*jwt.Token) (interface{}, error) {
		return []byte(os.Getenv("WXAUTH_JWT_SECRET")), nil
	}, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || !c.VerifyIssuer("wxauth", true) || !c.VerifyAudience("wxauth", true) {
		return errorResponse(401, "invalid_token", "the access token is invalid")
	}
	var userID, openid, nickname string
	var revoked bool
	var updated int64
	err = s.db.QueryRow(s.sql(`SELECT u.id, u.openid, u.nickname, u.updated_at, f.revoked
		FROM ref_families f JOIN ref_users u ON u.id = f.user_id WHERE f.id = ?`), c.Sid).
		Scan(&userID, &openid, &nickname, &updated, &revoked)
	if err != nil || revoked || userID != c.Subject {
		return errorResponse(401, "invalid_token", "the session has ended")
	}
	body, _ := json.Marshal(map[string]interface{}{"sub": userID, "openid": openid, "updated_at": updated})
	return jsonResponse(200, string(body))
}

func login(s *store, ev event) response {
	var body struct {
		Code string `json:"code"`
	}
	if ev.Body == nil || json.Unmarshal([]byte(*ev.Body), &body) != nil || body.Code == "" {
		return errorResponse(400, "invalid_request", "code is required")
	}
	query := url.Values{"appid": {os.Getenv("WECHAT_APPID")}, "secret": {os.Getenv("WECHAT_SECRET")},
		"js_code": {body.Code}, "grant_type": {"authorization_code"}}
	client := http.Client{Timeout: 5 * time.Second}
	reply, err := client.Get(os.Getenv("WECHAT_API_BASE") + "/sns/jscode2session?" + query.Encode())
	if err != nil {
		return errorResponse(503, "temporarily_unavailable", "WeChat is unreachable")
	}
	defer reply.Body.Close()
	var session struct {
		OpenID     string `json:"openid"`
		SessionKey string `json:"session_key"`
		UnionID    string `json:"unionid"`
		ErrCode    int    `json:"errcode"`
	}
	if json.NewDecoder(io.LimitReader(reply.Body, 64<<10)).Decode(&session) != nil || session.ErrCode != 0 {
		return errorResponse(400, "invalid_grant", "WeChat refused the code")
	}
	sealed, err := seal([]byte(session.SessionKey))
	if err != nil {
		return errorResponse(500, "server_error", "sealing failed")
	}
	now := time.Now().Unix()
	tx, err := s.db.Begin()
	if err != nil {
		return errorResponse(503, "temporarily_unavailable", "store unavailable")
	}
	defer tx.Rollback()
	var userID string
	err = tx.QueryRow(s.sql(`INSERT INTO ref_users (id, appid, openid, unionid, session_key, nickname, updated_at)
		VALUES (?, ?, ?, ?, ?, '', ?) ON CONFLICT (appid, openid)
		DO UPDATE SET session_key = excluded.session_key, updated_at = excluded.updated_at RETURNING id`),
		"u"+randomHex(12), os.Getenv("WECHAT_APPID"), session.OpenID, session.UnionID, sealed, now).Scan(&userID)
	if err != nil {
		return errorResponse(503, "temporarily_unavailable", "store unavailable")
	}
	familyID := "s" + randomHex(12)
	if _, err = tx.Exec(s.sql(`INSERT INTO ref_families (id, user_id, revoked) VALUES (?, ?, false)`),
		familyID, userID); err != nil {
		return errorResponse(503, "temporarily_unavailable", "store unavailable")
	}
	result, err := issue(tx, s, userID, familyID, now)
	if err != nil || tx.Commit() != nil {
		return errorResponse(503, "temporarily_unavailable", "store unavailable")
	}
	return result
}

func refresh(s *store, ev event) response {
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if ev.Body == nil || json.Unmarshal([]byte(*ev.Body), &body) != nil || body.RefreshToken == "" {
		return errorResponse(400, "invalid_request", "refresh_token is required")
	}
	digest := sha256.Sum256([]byte(body.RefreshToken))
	hash := hex.EncodeToString(digest[:])
	now := time.Now().Unix()
	tx, err := s.db.Begin()
	if err != nil {
		return errorResponse(503, "temporarily_unavailable", "store unavailable")
	}
	defer tx.Rollback()
	var familyID, userID string
	err = tx.QueryRow(s.sql(`UPDATE ref_tokens SET spent = true WHERE hash = ? AND NOT spent AND expires_at > ?
		RETURNING family_id, (SELECT user_id FROM ref_families WHERE id = family_id AND NOT revoked)`),
		hash, now).Scan(&familyID, &userID)
	if errors.Is(err, sql.ErrNoRows) {
		// Unknown, expired or spent: a spent token revokes its whole family.
		_, _ = tx.Exec(s.sql(`UPDATE ref_families SET revoked = true
			WHERE id = (SELECT family_id FROM ref_tokens WHERE hash = ?)`), hash)
		_ = tx.Commit()
		return errorResponse(400, "invalid_grant", "the refresh token is not valid")
	}
	if err != nil {
		return errorResponse(400, "invalid_grant", "the refresh token's session has ended")
	}
	result, err := issue(tx, s, userID, familyID, now)
	if err != nil || tx.Commit() != nil {
		return errorResponse(503, "temporarily_unavailable", "store unavailable")
	}
	return result
}

// issue stores a new refresh token of the family and signs an access token.
func issue(tx *sql.Tx, s *store, userID, familyID string, now int64) (response, error) {
	refreshToken := randomBase64URL(32)
	digest := sha256.Sum256([]byte(refreshToken))
	if _, err := tx.Exec(s.sql(`INSERT INTO ref_tokens (hash, family_id, spent, expires_at) VALUES (?, ?, false, ?)`),
		hex.EncodeToString(digest[:]), familyID, now+604800); err != nil {
		return response{}, err
	}
	token := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{Sid: familyID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "wxauth", Audience: jwt.ClaimStrings{"wxauth"}, Subject: userID, ID: randomHex(16),
		IssuedAt: jwt.NewNumericDate(time.Unix(now, 0)), ExpiresAt: jwt.NewNumericDate(time.Unix(now+900, 0)),
	}})
	signed, err := token.SignedString([]byte(os.Getenv("WXAUTH_JWT_SECRET")))
	if err != nil {
		return response{}, err
	}
	body, _ := json.Marshal(map[string]interface{}{
		"access_token": signed, "token_type": "Bearer", "expires_in": 900, "refresh_token": refreshToken,
		"refresh_expires_in": 604800, "user": map[string]string{"id": userID},
	})
	return jsonResponse(200, string(body)), nil
}

// MARK: store

func open(databaseURL string) (*store, error) {
	var s store
	var err error
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		s.postgres = true
		// lib/pq insists on TLS unless told otherwise; the benchmark's loopback server has none.
		if !strings.Contains(databaseURL, "sslmode=") {
			separator := "?"
			if strings.Contains(databaseURL, "?") {
				separator = "&"
			}
			databaseURL += separator + "sslmode=disable"
		}
		s.db, err = sql.Open("postgres", databaseURL)
	} else {
		path := strings.TrimPrefix(databaseURL, "sqlite:")
		s.db, err = sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000")
	}
	if err != nil {
		return nil, err
	}
	s.db.SetMaxOpenConns(1)
	// The schema is created once; later processes only check it exists, as wxauth's migration check does.
	var exists int
	if s.db.QueryRow(s.sql(`SELECT count(*) FROM ref_schema`)).Scan(&exists) == nil {
		return &s, nil
	}
	for _, statement := range []string{
		`CREATE TABLE IF NOT EXISTS ref_users (id TEXT PRIMARY KEY, appid TEXT NOT NULL, openid TEXT NOT NULL,
			unionid TEXT, session_key BYTEA, nickname TEXT, updated_at BIGINT, UNIQUE (appid, openid))`,
		`CREATE TABLE IF NOT EXISTS ref_families (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, revoked BOOLEAN NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS ref_tokens (hash TEXT PRIMARY KEY, family_id TEXT NOT NULL,
			spent BOOLEAN NOT NULL, expires_at BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS ref_schema (version INTEGER)`,
		`INSERT INTO ref_schema VALUES (1)`,
	} {
		if _, err = s.db.Exec(statement); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

// sql rewrites ? placeholders as $1, $2… for PostgreSQL.
func (s *store) sql(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// MARK: helpers

func seal(plaintext []byte) ([]byte, error) {
	mac := hmac.New(sha256.New, []byte(os.Getenv("WXAUTH_JWT_SECRET")))
	mac.Write([]byte("wxauth data key"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err = rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plaintext, nil), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomBase64URL(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func jsonResponse(status int, body string) response {
	return response{StatusCode: status, Body: body,
		Headers: map[string]string{"content-type": "application/json", "cache-control": "no-store"}}
}

func errorResponse(status int, code, description string) response {
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": description})
	return jsonResponse(status, string(body))
}
