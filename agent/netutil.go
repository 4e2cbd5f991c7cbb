package agent

import (
	"errors"

	sockaddr "github.com/hashicorp/go-sockaddr"
)

// privateIP finds the address to advertise when binding all interfaces, the
// same way Consul and Nomad do: the first private IPv4 address.
func privateIP() (string, error) {
	ip, err := sockaddr.GetPrivateIP()
	if err != nil {
		return "", err
	}
	if ip == "" {
		return "", errors.New("no private IPv4 address on any interface")
	}
	return ip, nil
}
