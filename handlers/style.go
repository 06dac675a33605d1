package handlers

import (
	"encoding/json"
	"net/http"
)

// defaultSmartStyle is the style document apps are pointed to unless the
// host supplies its own (SMART App Launch 2.x §Styles).
var defaultSmartStyle = json.RawMessage(`{
  "color_background": "#ffffff",
  "color_error": "#b3261e",
  "color_highlight": "#1f5fae",
  "color_modal_backdrop": "",
  "color_success": "#2e7d32",
  "color_text": "#1b1f24",
  "dim_border_radius": "0.3em",
  "dim_font_size": "16px",
  "dim_spacing_size": "1em",
  "font_family_body": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  "font_family_heading": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
}`)

// StyleURL is the smart_style_url every launch context carries.
func (s *Server) StyleURL() string { return s.endpoint("smart-style.json") }

// serveSmartStyle serves the style document at StyleURL. Any origin may
// read it: apps fetch it from the browser.
func (s *Server) serveSmartStyle(w http.ResponseWriter, r *http.Request) {
	if corsAnyOrigin(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(s.cfg.SmartStyle)
}
