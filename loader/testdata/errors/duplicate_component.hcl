component "add2" {
  source = "../app"
}

component "add2" {
  source = "../app"
}
