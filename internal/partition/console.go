package partition

// consoleDomains are the AWS Management Console's domains by partition; a
// region's console is REGION.DOMAIN. The SDK's partition data does not
// carry them. The partitions not listed (the isolated ones, the European
// Sovereign Cloud) have consoles this program has no public address for.
var consoleDomains = map[string]string{
	"aws":        "console.aws.amazon.com",
	"aws-cn":     "console.amazonaws.cn",
	"aws-us-gov": "console.amazonaws-us-gov.com",
}

// ConsoleHost is the host of the AWS Management Console for region in the
// partition, e.g. us-east-1.console.aws.amazon.com,
// cn-north-1.console.amazonaws.cn, us-gov-west-1.console.amazonaws-us-gov.com;
// false when the partition's console has no public address known here.
func (p Partition) ConsoleHost(region string) (string, bool) {
	domain, ok := consoleDomains[p.ID]
	if !ok || region == "" {
		return "", false
	}
	return region + "." + domain, true
}
