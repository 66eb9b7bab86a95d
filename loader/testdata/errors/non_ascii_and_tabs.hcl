component "grüße" {
	source = "../app"

	register "com.grüße.hallo wörld" {
		handler = "Hallo"
	}
}
