// Package forms holds the customer-facing registration pages: the form, the
// success page, the "open in WeChat" page and the authorisation problems.
package forms

// fragKey names the htmx partials of these pages.
type fragKey string

// FormFragment is the <form> element alone: htmx swaps it in place with the
// validation errors (422).
const FormFragment fragKey = "form"

// Option is one choice of a single or multiple choice field.
type Option struct {
	Value   string
	Checked bool
}

// FieldVM is one question as rendered.
type FieldVM struct {
	Name      string // the form parameter: "f." + key
	ID        string
	Label     string
	Kind      string // name, company, job_title, email, city, text, single, multi
	Required  bool
	Value     string
	Options   []Option
	Error     string
	Multiline bool
	InputType string // text, email
	MaxLen    int
}

// Param is a hidden parameter carried through the POST (attribution, UTM).
type Param struct{ Name, Value string }

// FormVM is the registration form page.
type FormVM struct {
	Title       string
	CoverURL    string
	Description string
	Action      string // POST target
	SMSAction   string // "" when the form does not verify by SMS
	Fields      []FieldVM
	Phone       string
	PhoneError  string
	// PhoneLocked shows a phone verified elsewhere (the mini program); unused on the web page.
	SMSCode        string
	SMSError       string
	SMSNotice      string
	Consent        bool
	ConsentError   string
	ConsentText    string
	PrivacyURL     string
	ConsentVersion int
	Token          string
	Hidden         []Param
	FormError      string
	// WeChatNote tells the person their WeChat identity is known (no PII).
	WeChatNote string
	// Preview renders the page for an admin: the submit button is disabled.
	Preview bool
}

// DoneVM is the success page.
type DoneVM struct {
	Title     string
	Message   string
	ContactQR string // image URL of the attributed employee's contact QR, if any
	QRNote    string
	NextURL   string // an allowed URL to continue to, if any
}

// OpenInWeChatVM asks the person to open the link in WeChat.
type OpenInWeChatVM struct {
	Title   string
	Link    string
	QRImage string // data: URL of a PNG, "" when the link does not fit a QR code
}

// AuthProblemVM explains a failed or cancelled authorisation, with a retry.
type AuthProblemVM struct {
	Title    string
	Message  string
	RetryURL string
	// SkipURL continues without WeChat identity, when the form allows it.
	SkipURL string
}
