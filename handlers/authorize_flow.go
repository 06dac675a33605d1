package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/scope"
	"github.com/fhirkit/smart/store"

	"github.com/fhirkit/smart/internal/page"
)

// proceed takes an authorization to its next step: login, patient pick,
// consent, or the answer to the app. Every step comes back here, so the
// rules of what a user may be granted live in one place.
func (s *Server) proceed(w http.ResponseWriter, r *http.Request, f *pendingAuthorization) {
	ctx := r.Context()
	u := s.sessionUser(ctx)
	if u == nil || (f.Prompt&promptLogin != 0 && u.AuthTime.Unix() < f.Created) {
		if f.Prompt&promptNone != 0 {
			s.refuseFlow(w, r, f, nil, badRequest(ErrLoginRequired, "the user is not signed in"))
			return
		}
		s.startLogin(w, r, s.stepURL("authorize/continue", f.ID), f.ClientName)
		return
	}
	pick, err := s.resolvePatient(ctx, f, u)
	if err != nil {
		s.refuseFlow(w, r, f, u, err)
		return
	}
	if pick {
		s.toStep(w, r, f, u, "authorize/patient", ErrInteractionRequired)
		return
	}
	grant, lc, err := s.userGrant(f, u)
	if err != nil {
		s.refuseFlow(w, r, f, u, err)
		return
	}
	if f.Approved == "" {
		ask, err := s.needsConsent(ctx, f, u, grant)
		if err != nil {
			s.refuseFlow(w, r, f, u, err)
			return
		}
		if ask {
			f.Offered = grant.String()
			s.toStep(w, r, f, u, "authorize/consent", ErrConsentRequired)
			return
		}
	}
	s.issueCode(w, r, f, u, grant, lc)
}

// toStep saves the flow and sends the browser to a page step, or, under
// prompt=none, answers the app that a person is needed.
func (s *Server) toStep(w http.ResponseWriter, r *http.Request, f *pendingAuthorization, u *User, step, noneErr string) {
	if f.Prompt&promptNone != 0 {
		s.refuseFlow(w, r, f, u, badRequest(noneErr, "the user must take part in this authorization"))
		return
	}
	if err := s.saveFlow(r.Context(), f); err != nil {
		s.refuseFlow(w, r, f, u, fmt.Errorf("save flow: %w", err))
		return
	}
	http.Redirect(w, r, s.stepURL(step, f.ID), http.StatusSeeOther)
}

// stepURL is the URL of a step of flow id.
func (s *Server) stepURL(step, id string) string {
	return s.endpoint(step) + "?" + url.Values{"flow": {id}}.Encode()
}

// resolvePatient settles the patient context: the EHR launch's, the
// patient user's own record, or one still to be picked (pick true). A
// patient the user may not see is refused whichever way it came.
func (s *Server) resolvePatient(ctx context.Context, f *pendingAuthorization, u *User) (pick bool, err error) {
	patient := f.Patient
	if f.Launch != nil && f.Launch.Patient != "" {
		patient = f.Launch.Patient
	}
	if patient != "" {
		ok, err := s.mayAccess(ctx, u, patient)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, &Error{Code: ErrAccessDenied, Description: "the signed-in user may not see this patient", Status: http.StatusForbidden}
		}
		return false, nil
	}
	if !wantsPatient(f.Scope) {
		return false, nil
	}
	if own := u.OwnPatient(); own != "" {
		f.Patient = own // a patient's standalone launch: their own record, without asking
		return false, nil
	}
	return s.access != nil, nil
}

// mayAccess asks the patient-access policy; a patient user may always
// see their own record.
func (s *Server) mayAccess(ctx context.Context, u *User, patient string) (bool, error) {
	if patient == u.OwnPatient() {
		return true, nil
	}
	if s.access == nil {
		return false, nil
	}
	ok, err := s.access.CanAccessPatient(ctx, u.accessUser(), patient)
	if err != nil {
		return false, fmt.Errorf("patient access for %q: %w", u.Subject, err)
	}
	return ok, nil
}

// wantsPatient reports whether a scope string needs a patient in
// context: launch/patient, or any patient/ scope.
func wantsPatient(raw string) bool {
	set, err := scope.ParseSet(raw)
	if err != nil {
		return false
	}
	for _, sc := range set.Scopes() {
		if sc.Kind() == scope.LaunchContext && sc.LaunchType() == "patient" ||
			sc.Kind() == scope.Resource && sc.Context() == scope.Patient {
			return true
		}
	}
	return false
}

// userGrant cuts the authorization's scope down to what this user may
// hold in this context: a patient-facing user never holds user/ scopes;
// patient/ scopes and launch/patient need a patient in context; launch
// needs an EHR launch. After consent, only what the person approved
// remains. It returns the scopes with the launch context they carry.
func (s *Server) userGrant(f *pendingAuthorization, u *User) (scope.Set, store.LaunchContext, error) {
	var lc store.LaunchContext
	set, err := scope.ParseSet(f.Scope)
	if err != nil {
		return set, lc, fmt.Errorf("stored scope of flow: %w", err)
	}
	// Every launch context points to the style document: an EHR launch's
	// always (even one without a patient), a standalone launch's when a
	// patient is in context. The app must show a patient banner in a
	// standalone launch; in an EHR launch the EHR says (need_patient_banner).
	switch {
	case f.Launch != nil:
		lc = *f.Launch
	case f.Patient != "":
		lc = store.LaunchContext{Patient: f.Patient, NeedPatientBanner: true}
	}
	if lc.SmartStyleURL == "" && (f.Launch != nil || !lc.IsZero()) {
		lc.SmartStyleURL = s.StyleURL()
	}
	var keep []scope.Scope
	for _, sc := range set.Scopes() {
		if allowedFor(sc, u, f, lc) {
			keep = append(keep, sc)
		}
	}
	grant := scope.NewSet(keep...)
	if f.Approved != "" {
		approved, err := scope.ParseSet(f.Approved)
		if err != nil {
			return set, lc, fmt.Errorf("approved scope of flow: %w", err)
		}
		// In the approval's form: a category the person picked is a v2
		// scope even where the app asked in v1.
		grant = approved.Intersect(grant)
	}
	if !hasResourceOrIdentity(grant) {
		return grant, lc, &Error{Code: ErrAccessDenied, Description: "none of the requested scopes can be granted to this user", Status: http.StatusForbidden}
	}
	return grant, lc, nil
}

// allowedFor says whether one scope survives for u in context lc.
func allowedFor(sc scope.Scope, u *User, f *pendingAuthorization, lc store.LaunchContext) bool {
	switch sc.Kind() {
	case scope.Resource:
		switch sc.Context() {
		case scope.User:
			return !u.IsPatientFacing()
		case scope.Patient:
			return lc.Patient != ""
		}
		return false // system/: never in a person's grant
	case scope.Launch:
		return f.Launch != nil
	case scope.LaunchContext:
		switch sc.LaunchType() {
		case "patient":
			return lc.Patient != ""
		case "encounter":
			return lc.Encounter != ""
		}
		return len(lc.FHIRContext) > 0
	}
	return true
}

// hasResourceOrIdentity reports whether a grant is worth a code: some
// data, or the user's identity.
func hasResourceOrIdentity(set scope.Set) bool {
	for _, sc := range set.Scopes() {
		switch sc.Kind() {
		case scope.Resource, scope.OpenID, scope.FHIRUser, scope.Profile, scope.Opaque:
			return true
		}
	}
	return false
}

// needsConsent reports whether the consent page must be shown: always
// under prompt=consent, else unless the user approved these scopes for
// this client before.
func (s *Server) needsConsent(ctx context.Context, f *pendingAuthorization, u *User, grant scope.Set) (bool, error) {
	if f.Prompt&promptConsent != 0 || s.cfg.ConsentTTL < 0 {
		return true, nil
	}
	c, err := s.store.GetConsent(ctx, u.Subject, f.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("load consent: %w", err)
	}
	given, err := scope.ParseSet(c.Scope)
	if err != nil {
		return true, nil // unreadable: ask again rather than guess
	}
	if !given.Covers(grant) {
		return true, nil
	}
	f.Approved = grant.String()
	return false, nil
}

// issueCode stores the authorization code and answers the app.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, f *pendingAuthorization, u *User, grant scope.Set, lc store.LaunchContext) {
	ctx := r.Context()
	now := s.now()
	raw := secret.New()
	code := &store.AuthCode{
		Hash: store.HashSecret(raw), ClientID: f.ClientID, RedirectURI: f.RedirectURI,
		Scope: grant.String(), Subject: u.Subject, FHIRUser: u.FHIRUser, AuthTime: u.AuthTime,
		Nonce: f.Nonce, Context: lc, CodeChallenge: f.Challenge, CodeChallengeMethod: "S256",
		GrantID: secret.ID(), CreatedAt: now, ExpiresAt: now.Add(s.cfg.CodeTTL),
	}
	if err := s.store.SaveCode(ctx, code); err != nil {
		s.refuseFlow(w, r, f, u, fmt.Errorf("save code: %w", err))
		return
	}
	s.endFlow(ctx, f.ID)
	s.audit(ctx, AuditEvent{
		Action: "authorize.grant", Outcome: "success", ClientID: f.ClientID, Subject: u.Subject,
		Patient: lc.Patient, Scope: code.Scope, Grant: GrantAuthorizationCode, Source: r.RemoteAddr,
	})
	if f.RedirectURI == oobRedirectURI {
		s.renderPage(w, http.StatusOK, pageOOB, oobPage{
			Page: page.New("Your sign-in code", ""), ClientName: f.ClientName, Code: raw,
			ExpiresIn: humanDuration(s.cfg.CodeTTL),
		})
		return
	}
	q := url.Values{"code": {raw}, "iss": {s.Issuer()}}
	if f.State != "" {
		q.Set("state", f.State)
	}
	http.Redirect(w, r, withQuery(f.RedirectURI, q), http.StatusSeeOther)
}

// refuseFlow ends an authorization with an error sent back to the app.
func (s *Server) refuseFlow(w http.ResponseWriter, r *http.Request, f *pendingAuthorization, u *User, err error) {
	ctx := r.Context()
	s.endFlow(ctx, f.ID)
	e := asError(err)
	ev := AuditEvent{
		Action: "authorize.refuse", Outcome: "failure", ClientID: f.ClientID,
		Reason: e.Code + ": " + e.Description, Source: r.RemoteAddr,
	}
	if u != nil {
		ev.Subject = u.Subject
	}
	s.audit(ctx, ev)
	s.replyError(w, r, authorizeReply{redirect: f.RedirectURI, state: f.State, iss: s.Issuer()}, err)
}

// humanDuration says d the way the out-of-band page does: "1 minute",
// "5 minutes".
func humanDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	}
	if m := int(d.Minutes()); m == 1 {
		return "1 minute"
	} else {
		return fmt.Sprintf("%d minutes", m)
	}
}

func (s *Server) serveContinue(w http.ResponseWriter, r *http.Request) {
	f := s.loadFlow(r.Context(), r.URL.Query().Get("flow"))
	if f == nil {
		s.flowGone(w)
		return
	}
	s.proceed(w, r, f)
}

// flowGone answers a step whose authorization is no longer in the
// session: finished, expired, or started in another browser.
func (s *Server) flowGone(w http.ResponseWriter) {
	s.showError(w, http.StatusBadRequest, "This sign-in has expired",
		"The request from the app is no longer waiting. Go back to the app and start again.")
}
