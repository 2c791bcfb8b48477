package parser

import "testing"

func TestPathTemplate(t *testing.T) {
	for in, want := range map[string]string{
		"/":                       "/",
		"":                        "/",
		"/users/123":              "/users/:id",
		"/users/456/posts?page=2": "/users/:id/posts",
		"/orders/0b9d1a7e-8c66-4fb4-a1b6-2a8e7a0d7c11/items": "/orders/:uuid/items",
		"/assets/application-9f86d081884c7d65.js":            "/assets/application-9f86d081884c7d65.js",
		"/blobs/9f86d081884c7d659a2feaa0c55ad015":            "/blobs/:hash",
		"/reset/Ab3dEf9hIjKlMn0pQrStUv":                      "/reset/:token",
		"/search#frag":                                       "/search",
		"/v2/users/7":                                        "/v2/users/:id",
		// Identifiers without digits: base64url, mixed case, long letter runs.
		"/s/QmFzZVNpeHR5Rm91cg":                     "/s/:token",
		"/invite/xKpQzRtWvBnMaLcE_fGhJ-kYs":         "/invite/:token",
		"/confirm/ZmFrZXRva2VuZm9yZHJhaW53YXRjaA==": "/confirm/:token",
		"/dl/qzwxkvbnmtrplkjhgfdsazxcvb":            "/dl/:token",
		// Words, slugs and camelCase names stay.
		"/blog/how-we-cut-our-memory-in-half": "/blog/how-we-cut-our-memory-in-half",
		"/api/getUserProfileSettings":         "/api/getUserProfileSettings",
		"/internationalization":               "/internationalization",
		"/CONSTANT_NAME_THAT_IS_LONG":         "/CONSTANT_NAME_THAT_IS_LONG",
		"/assets/application.css":             "/assets/application.css",
		"/wp-admin/admin-ajax":                "/wp-admin/admin-ajax",
	} {
		if got := PathTemplate(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
