package registry

import (
	"context"
	"time"
)

// The audit trail records every change of packages and accounts with who
// made it, from where and when (AuditEvent). The server marks each
// request's context with the client's address (FromClient), the commands
// theirs with the operator's name (FromCommandLine); the rules add the
// rest. No secret ever goes in: the events name accounts, packages and
// versions, never a password, token or code.

type originKey struct{}

// origin is where a change comes from.
type origin struct {
	addr     string // the client's address; "" at the command line
	operator string // the operator's login name at the command line
}

// FromClient marks ctx as serving a request from the client address addr.
func FromClient(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, originKey{}, origin{addr: addr})
}

// FromCommandLine marks ctx as the operator's, at the command line of the
// registry's machine, logged in there as name.
func FromCommandLine(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, originKey{}, origin{operator: name})
}

func originOf(ctx context.Context) origin {
	o, _ := ctx.Value(originKey{}).(origin)
	return o
}

// commandLine is the address of changes made at the registry's machine.
const commandLine = "command line"

// audit appends e to the audit trail, with by as the actor and the
// origin of ctx. The change it records is committed already: a failure
// here is logged, for the operator, and does not undo it.
func (s *Service) audit(ctx context.Context, by Actor, e AuditEvent) {
	o := originOf(ctx)
	switch {
	case by.Operator:
		e.Actor = "operator"
		if o.operator != "" {
			e.Actor += ":" + o.operator
		}
	default:
		e.Actor = by.User.Username
	}
	e.Addr = o.addr
	if e.Addr == "" {
		e.Addr = commandLine
	}
	e.At = s.now()
	// The change is made: the event must be written even when the
	// request that made it is cancelled now.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.Error("audit trail: event lost", "action", e.Action, "actor", e.Actor, "package", e.Package,
			"version", e.Version, "subject", e.Subject, "err", err)
	}
}

// Audit returns the audit events q selects, oldest first.
func (s *Service) Audit(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	return s.store.Audit(ctx, q)
}
