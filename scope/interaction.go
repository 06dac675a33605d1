package scope

import "strconv"

// An Interaction is a FHIR RESTful interaction a request performs. The
// zero Interaction is not an interaction and no scope allows it.
//
// FHIR operations ($everything, $export, ...) are not interactions here:
// which permission an operation needs is for the resource server to
// decide.
type Interaction uint8

// The FHIR interactions SMART scopes speak about. Create, Update and
// Delete include their conditional forms.
const (
	Read            Interaction = iota + 1 // GET [type]/[id]
	VRead                                  // GET [type]/[id]/_history/[vid]
	HistoryInstance                        // GET [type]/[id]/_history
	HistoryType                            // GET [type]/_history
	HistorySystem                          // GET /_history
	SearchType                             // GET or POST [type]?...
	SearchSystem                           // GET or POST /?...
	Create                                 // POST [type]
	Update                                 // PUT [type]/[id] or PUT [type]?...
	Patch                                  // PATCH [type]/[id] or PATCH [type]?...
	Delete                                 // DELETE [type]/[id] or DELETE [type]?...
)

// String returns the FHIR code of the interaction, such as "search-type".
func (in Interaction) String() string {
	switch in {
	case Read:
		return "read"
	case VRead:
		return "vread"
	case HistoryInstance:
		return "history-instance"
	case HistoryType:
		return "history-type"
	case HistorySystem:
		return "history-system"
	case SearchType:
		return "search-type"
	case SearchSystem:
		return "search-system"
	case Create:
		return "create"
	case Update:
		return "update"
	case Patch:
		return "patch"
	case Delete:
		return "delete"
	}
	return "Interaction(" + strconv.Itoa(int(in)) + ")"
}

// Permission returns the permission letter a scope needs to allow the
// interaction, as SMART App Launch 2.x assigns them: r for read, vread
// and instance history; s for search and type or system history; c for
// create; u for update and patch; d for delete. It returns 0 for the
// zero or an unknown Interaction.
func (in Interaction) Permission() Permission {
	switch in {
	case Read, VRead, HistoryInstance:
		return PermRead
	case HistoryType, HistorySystem, SearchType, SearchSystem:
		return PermSearch
	case Create:
		return PermCreate
	case Update, Patch:
		return PermUpdate
	case Delete:
		return PermDelete
	}
	return 0
}
