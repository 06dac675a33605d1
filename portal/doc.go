// Package portal is a developer portal for a SMART authorization server,
// the pages an EHR vendor gives app developers: register SMART apps
// (redirect URIs, public or confidential, EHR launch URL, allowed
// scopes), update and delete them; register backend services by their
// public keys and see how to get a token; list test patient logins; and
// get a short-lived access token for the signed-in developer.
//
// A host mounts it behind its own sign-in, handlers.Server.RequireLogin,
// and any check of its own on who may use it:
//
//	dev, err := portal.New(portal.Config{Server: auth, Path: "/portal"})
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux.Handle("/portal/", auth.RequireLogin(dev))
//
// Every change goes through the handlers.Server's Go API
// (RegisterClient, UpdateClient, DeleteClient, ListClients), the code
// path of RFC 7591 and RFC 7592 registration, so an app registered here
// obeys the rules a dynamically registered one does. A user sees and
// changes only the clients registered under their owner name
// (Config.Owner). Tokens come from Server.IssueUserTestToken, which cuts
// them by the authorization flow's own grant rules and the host's
// patient-access policy, and audits them as test tokens. Every URL shown
// is the discovery document's.
//
// The pages are embedded html/template (DefaultPages) sharing the login
// pages' style, plain forms that work without JavaScript, served with
// the kit's headers (no framing, no caching, a CSP that runs no script)
// and protected against CSRF by Go's CrossOriginProtection and the
// session's token.
//
// The portal does not decide who is a developer: the host does, in front
// of it.
package portal
