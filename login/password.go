package login

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/internal/throttle"
)

// Bounds on what a sign-in form may submit. The server has already
// bounded the body, but argon2 is run over the password, and a password
// no account can have should not cost a hash.
const (
	maxUsernameLen = 256
	maxPasswordLen = 1024
)

// The messages of the login form. The same one answers an unknown user
// and a wrong password, so the form does not tell which usernames exist.
const (
	msgMissing   = "Enter your username and password."
	msgIncorrect = "The username or password is incorrect."
)

// Account is a user of a UserDirectory: who they are and their password
// hash.
type Account struct {
	handlers.User

	// PasswordHash is from HashPassword (argon2id), or a bcrypt hash
	// ($2a$, $2b$, $2y$) brought from an existing user table.
	PasswordHash string
}

// UserDirectory finds accounts by username. The host backs it with its
// own user table; whether usernames match case-insensitively is its
// choice.
type UserDirectory interface {
	// FindAccount returns the account signing in as username, or an
	// error wrapping ErrNoSuchAccount when there is none. Any other
	// error fails the login with the server's error page.
	FindAccount(ctx context.Context, username string) (*Account, error)
}

// ErrNoSuchAccount is what a UserDirectory returns for an unknown
// username.
var ErrNoSuchAccount = errors.New("login: no such account")

// Directory is an in-memory UserDirectory, safe for concurrent use, for
// demos and tests. Usernames match exactly. The zero Directory is empty
// and ready to use.
type Directory struct {
	mu       sync.RWMutex
	accounts map[string]Account
	params   argonParams // zero: defaultParams; tests set cheaper ones
}

// NewDirectory returns an empty Directory.
func NewDirectory() *Directory {
	return &Directory{}
}

// Add adds an account, or replaces the one of the same username, hashing
// password with HashPassword.
func (d *Directory) Add(username, password string, u handlers.User) error {
	if err := checkAccount(username, u); err != nil {
		return err
	}
	if password == "" || len(password) > maxPasswordLen {
		return fmt.Errorf("login: directory: account %q: the password must be 1 to %d bytes", username, maxPasswordLen)
	}
	params := d.params
	if params == (argonParams{}) {
		params = defaultParams
	}
	hash, err := hashWith(params, password)
	if err != nil {
		return err
	}
	return d.AddHashed(username, hash, u)
}

// AddHashed adds an account, or replaces the one of the same username,
// with a hash made by HashPassword or bcrypt. It refuses a hash that
// CheckPassword could not use, so a bad one shows up here rather than at
// the user's first sign-in.
func (d *Directory) AddHashed(username, hash string, u handlers.User) error {
	if err := checkAccount(username, u); err != nil {
		return err
	}
	if _, err := parseHash(hash); err != nil {
		return fmt.Errorf("login: directory: account %q: %w", username, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.accounts == nil {
		d.accounts = make(map[string]Account)
	}
	d.accounts[username] = Account{User: u, PasswordHash: hash}
	return nil
}

// checkAccount refuses an account that could never sign in, or would
// sign in as nobody.
func checkAccount(username string, u handlers.User) error {
	if username == "" || len(username) > maxUsernameLen {
		return fmt.Errorf("login: directory: a username must be 1 to %d bytes", maxUsernameLen)
	}
	if u.Subject == "" {
		return fmt.Errorf("login: directory: account %q: the user needs a Subject", username)
	}
	return nil
}

// FindAccount returns a copy of username's account, or ErrNoSuchAccount.
func (d *Directory) FindAccount(_ context.Context, username string) (*Account, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	a, ok := d.accounts[username]
	if !ok {
		return nil, ErrNoSuchAccount
	}
	return &a, nil
}

// PasswordConfig configures a Password. Users is required; every other
// field has a default.
type PasswordConfig struct {
	Users UserDirectory

	// Brute-force limits, since the form takes guesses from anyone.
	// Sign-in attempts that have not succeeded
	// are counted per username (default 5) and per client address
	// (default 20) in a window (default 15 minutes) that opens at the
	// first attempt; once either limit is reached, the form answers 429
	// until the window ends, without checking any password. A successful
	// sign-in clears the username's count. A negative limit turns that
	// limit off. The counts live in this process: with several replicas,
	// each counts on its own.
	MaxAccountAttempts int
	MaxAddressAttempts int
	AttemptWindow      time.Duration

	// MaxTrackedKeys caps the usernames, and separately the addresses,
	// being counted; the oldest count is dropped to make room. Default
	// 100000.
	MaxTrackedKeys int

	// ClientIP names the client of a request for the per-address limit;
	// default the host of r.RemoteAddr. Behind a reverse proxy, set it to
	// read the address the proxy passes on. IPv6 addresses are counted by
	// their /64, which a single client commonly holds in full.
	ClientIP func(r *http.Request) string

	Now    func() time.Time // the clock; default time.Now
	Logger *slog.Logger     // default slog.Default(); usernames only at Debug
}

func (c PasswordConfig) withDefaults() PasswordConfig {
	orInt := func(n *int, def int) {
		if *n == 0 {
			*n = def
		}
	}
	orInt(&c.MaxAccountAttempts, 5)
	orInt(&c.MaxAddressAttempts, 20)
	if c.MaxTrackedKeys <= 0 {
		c.MaxTrackedKeys = 100_000
	}
	if c.AttemptWindow <= 0 {
		c.AttemptWindow = 15 * time.Minute
	}
	if c.ClientIP == nil {
		c.ClientIP = remoteHost
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Password is the username and password form: a handlers.Authenticator
// that checks what the person types against a UserDirectory.
//
// For an unknown username it checks the password against a dummy hash at
// HashPassword's cost, so that the answer takes as long as for a wrong
// password. A stored hash at another cost (a bcrypt one, say) takes
// another time, which tells that its username exists; move such accounts
// to HashPassword's hashes as their passwords change.
type Password struct {
	cfg       PasswordConfig
	accounts  *throttle.Limiter
	addresses *throttle.Limiter
	// dummy is checked in place of an unknown user's hash, so that the
	// answer takes as long as for a known user with a wrong password.
	dummy storedHash
}

// NewPassword returns the password form for cfg.
func NewPassword(cfg PasswordConfig) (*Password, error) {
	return newPassword(cfg, defaultParams)
}

// newPassword is NewPassword with the dummy hash at the given costs,
// which should be those of the directory's hashes.
func newPassword(cfg PasswordConfig, dummyParams argonParams) (*Password, error) {
	if cfg.Users == nil {
		return nil, errors.New("login: PasswordConfig.Users is required")
	}
	hash, err := hashWith(dummyParams, rand.Text())
	if err != nil {
		return nil, err
	}
	dummy, err := parseHash(hash)
	if err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	return &Password{
		cfg:       c,
		accounts:  throttle.New(c.MaxAccountAttempts, c.AttemptWindow, c.MaxTrackedKeys, c.Now),
		addresses: throttle.New(c.MaxAddressAttempts, c.AttemptWindow, c.MaxTrackedKeys, c.Now),
		dummy:     dummy,
	}, nil
}

// Authenticate shows the sign-in form, and checks it when it is posted.
func (p *Password) Authenticate(w http.ResponseWriter, r *http.Request, l *handlers.Login) (*handlers.User, error) {
	if r.Method != http.MethodPost {
		l.ShowForm(w, http.StatusOK, "")
		return nil, nil
	}
	username, password := r.PostFormValue("username"), r.PostFormValue("password")
	if username == "" || password == "" {
		l.ShowForm(w, http.StatusBadRequest, msgMissing)
		return nil, nil
	}
	addr, acct := p.addressKey(r), accountKey(username)
	if p.throttled(w, r, l, addr, acct) {
		return nil, nil
	}
	u, err := p.verify(r.Context(), username, password)
	switch {
	case err != nil:
		// Not the person's doing: their attempt does not count.
		p.addresses.Give(addr)
		p.accounts.Give(acct)
		return nil, err
	case u == nil:
		l.ShowForm(w, http.StatusUnauthorized, msgIncorrect)
		return nil, nil
	}
	// The address keeps its other attempts: otherwise one valid account
	// would let an attacker reset their address's count at will.
	p.addresses.Give(addr)
	p.accounts.Reset(acct)
	return u, nil
}

// throttled counts the attempt against both limits, or, when either is
// used up, answers 429 and reports true.
func (p *Password) throttled(w http.ResponseWriter, r *http.Request, l *handlers.Login, addr, acct string) bool {
	wait, limit := p.addresses.Take(addr), "address"
	if wait == 0 {
		if wait, limit = p.accounts.Take(acct), "account"; wait > 0 {
			p.addresses.Give(addr) // an attempt never made
		}
	}
	if wait <= 0 {
		return false
	}
	p.cfg.Logger.WarnContext(r.Context(), "login: password sign-in throttled", "limit", limit, "address", addr)
	secs := int((wait + time.Second - 1) / time.Second)
	mins := (secs + 59) / 60
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	l.ShowForm(w, http.StatusTooManyRequests, fmt.Sprintf("Too many sign-in attempts. Try again in %d %s.", mins, plural(mins, "minute")))
	return true
}

// verify returns the user whose username and password these are, or nil
// when they are not any user's.
func (p *Password) verify(ctx context.Context, username, password string) (*handlers.User, error) {
	if len(username) > maxUsernameLen || len(password) > maxPasswordLen {
		// No account has these (Directory.Add refuses them): skip the hash.
		p.cfg.Logger.DebugContext(ctx, "login: password sign-in refused", "reason", "too long")
		return nil, nil
	}
	acct, err := p.cfg.Users.FindAccount(ctx, username)
	if errors.Is(err, ErrNoSuchAccount) {
		_, _ = p.dummy.verify(password) // as long as a wrong password takes
		p.cfg.Logger.DebugContext(ctx, "login: password sign-in refused", "username", username, "reason", "no such account")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("login: finding account %q: %w", username, err)
	}
	ok, err := CheckPassword(acct.PasswordHash, password)
	if err != nil {
		return nil, fmt.Errorf("login: checking the password of %q: %w", username, err)
	}
	if !ok {
		p.cfg.Logger.DebugContext(ctx, "login: password sign-in refused", "username", username, "reason", "wrong password")
		return nil, nil
	}
	u := acct.User // a copy, and without the hash
	return &u, nil
}

// accountKey is the per-username throttle key. It folds case, so that a
// directory that matches usernames case-insensitively does not grant a
// fresh budget per spelling; it is bounded like the username itself.
func accountKey(username string) string {
	if len(username) > maxUsernameLen {
		username = username[:maxUsernameLen]
	}
	return strings.ToLower(username)
}

// addressKey is the per-address throttle key: the client's address, or
// the /64 of an IPv6 one, since a single client commonly holds a whole
// /64 and would otherwise get 2^64 budgets.
func (p *Password) addressKey(r *http.Request) string {
	ip := p.cfg.ClientIP(r)
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	prefix, _ := a.Prefix(64)
	return prefix.String()
}

// remoteHost is the host part of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
