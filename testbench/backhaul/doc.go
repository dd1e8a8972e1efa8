// Package backhaul is the backhaul meter (issue 7).
package backhaul
