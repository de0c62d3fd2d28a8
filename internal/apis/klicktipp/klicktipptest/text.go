package klicktipptest

// Language is the language the fake words its error texts in. KlickTipp
// answers in the account's language: the OpenAPI spec shows English texts,
// the recorded answers in d3datadevelopment/klicktipp-php-client's tests
// German ones. A client must understand both.
type Language int

const (
	// English: the texts of the OpenAPI spec (default).
	English Language = iota
	// German: the texts recorded in klicktipp-php-client's tests.
	German
)

// String returns "English" or "German".
func (l Language) String() string {
	if l == German {
		return "German"
	}
	return "English"
}

// texts are the error texts of one language. Where a text is marked
// "guess" no evidence gives it in that language.
type texts struct {
	denied        string // 403 on any authenticated call without valid credentials
	wrongLogin    string // 401 on a failed login
	alreadyIn     string // 406 on a login that carries a live session
	notLoggedIn   string // 406 on a logout without a live session
	noSuchEntity  string // 404 for an unknown id or email
	noSuchTag     string // 404 for GET /tag/{id} with an unknown id
	noSuchContact string // 406 for PUT /subscriber/{id} with an unknown id
	tagNotCreated string // 406 on POST /tag that creates nothing
	badBody       string // 400 on a body that is neither JSON nor form data (guess)
}

var languages = map[Language]texts{
	English: {
		denied:        "API access denied.",             // spec, AccessDeniedResponse
		wrongLogin:    "Wrong username or password.",    // spec, UnauthorizedResponse
		alreadyIn:     "You are already logged in.",     // guess
		notLoggedIn:   "User not logged in.",            // guess
		noSuchEntity:  "There is no such entity.",       // spec, NotFoundResponse
		noSuchTag:     "There is no such entity.",       // spec, NotFoundResponse
		noSuchContact: "The subscriber does not exist.", // guess
		tagNotCreated: "Tag could not be created.",      // guess
		badBody:       "The request body is not valid JSON or form data.",
	},
	German: {
		denied:        "API Zugriff verweigert",               // php-client tests, every resource
		wrongLogin:    "Falscher Benutzername oder Passwort.", // php-client AccountTest
		alreadyIn:     "Sie sind bereits eingeloggt.",         // php-client AccountTest
		notLoggedIn:   "Benutzer nicht eingeloggt.",           // php-client AccountTest
		noSuchEntity:  "Diesen Kontakt gibt es nicht.",        // php-client SubscriberTest (search)
		noSuchTag:     "Kein Tag mit dieser ID.",              // php-client TagTest
		noSuchContact: "Der Kontakt existiert nicht.",         // php-client SubscriberTest (update)
		tagNotCreated: "Tag konnte nicht erstellt werden.",    // php-client TagTest
		badBody:       "Der Inhalt der Anfrage ist ungültig.", // guess
	},
}

// WithLanguage words the fake's error texts in lang (default English).
func WithLanguage(lang Language) Option {
	return func(s *Server) { s.lang = lang }
}

// WithDuplicateTagsReturnExisting makes POST /tag with a name that exists
// (case-insensitively) answer the existing tag's id, instead of the default
// 406 "Tag could not be created.". Neither the spec nor an official client
// says what KlickTipp does: both are guesses, and the client handles both.
func WithDuplicateTagsReturnExisting() Option {
	return func(s *Server) { s.dupTagsExisting = true }
}

// WithDuplicateTagsCreated makes POST /tag with a name that exists create
// another tag of that name, with a new id, as an API that does not check
// names would: what a fleet must guard against by creating each tag once.
// It overrides WithDuplicateTagsReturnExisting.
func WithDuplicateTagsCreated() Option {
	return func(s *Server) { s.dupTagsCreated = true }
}

func (s *Server) text() texts { return languages[s.lang] }
