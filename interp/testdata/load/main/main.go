package main

func Add2(x, y int) int { return x + y }
