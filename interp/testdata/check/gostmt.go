package check

func Start() {
	done := make(chan bool)
	go func() { done <- true }()
	<-done
}
