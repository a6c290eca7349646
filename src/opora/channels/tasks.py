"""Channel packages declare their own jobs (mail polling, ...); the job registry's discovery looks
one level deep, so importing the channel packages here makes their jobs known to every worker."""

from opora.channels import registry

registry.discover()
