"""StreamFlow live scoring: a PyFlink job over the shared fraud core."""

import logging

# PyFlink imports Apache Beam, whose file-system registry warns at every start that the Google
# Cloud Storage client is not installed; the job never reads GCS, so the warning is noise.
logging.getLogger("apache_beam.io.filesystems").setLevel(logging.ERROR)
