"""Web-identity credentials (EKS IRSA style): token file -> STS -> keys used against S3.

versitygw has no STS endpoint, so this test runs a stand-in STS (a few lines of
http.server below) that answers AssumeRoleWithWebIdentity with the S3 server's keys when
the token matches. Everything else — token file reading, the STS request, signing S3
requests with the returned session credentials, the real S3 server checking them — is
real. The stand-in returns no session token because versitygw would reject one it did
not issue.
"""
import datetime
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from conftest import rewind
from s3server import s3server, versitygw  # noqa: F401  (pytest fixtures)
from test_store_s3 import make_file

TOKEN = "eyJhbGciOiJSUzI1NiJ9.test-token.signature"
ROLE = "arn:aws:iam::123456789012:role/rewind-uploader"


@pytest.fixture
def sts(s3server):
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            form = dict(urllib.parse.parse_qsl(body))
            seen.append(form)
            if (form.get("Action") != "AssumeRoleWithWebIdentity" or form.get("RoleArn") != ROLE
                    or form.get("WebIdentityToken") != TOKEN):
                self.reply(403, "<ErrorResponse><Error><Code>AccessDenied</Code><Message>"
                                "Not authorized to perform sts:AssumeRoleWithWebIdentity"
                                "</Message></Error></ErrorResponse>")
                return
            expires = (datetime.datetime.now(datetime.timezone.utc)
                       + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.reply(200, f"""<AssumeRoleWithWebIdentityResponse>
<AssumeRoleWithWebIdentityResult><Credentials>
<AccessKeyId>{s3server.access_key}</AccessKeyId>
<SecretAccessKey>{s3server.secret_key}</SecretAccessKey>
<SessionToken></SessionToken><Expiration>{expires}</Expiration>
</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>""")

        def reply(self, code, text):
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def web_identity_env(s3server, sts_url, token_file):
    env = s3server.env(AWS_WEB_IDENTITY_TOKEN_FILE=token_file, AWS_ROLE_ARN=ROLE,
                       AWS_STS_ENDPOINT=sts_url)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    return env


def test_web_identity_token_is_exchanged_and_used(s3server, sts, tmp_path):
    sts_url, seen = sts
    s3server.create_bucket("rec")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    f = tmp_path / "a.rwd"
    sha = make_file(f, 1000)
    r = rewind("push", f, "s3://rec/x.rwd", env=web_identity_env(s3server, sts_url, token_file))
    assert r.returncode == 0, r.stderr
    assert len(seen) == 1 and seen[0]["RoleArn"] == ROLE
    assert s3server.client().head_object(Bucket="rec", Key="x.rwd")["Metadata"]["sha256"] == sha
    assert TOKEN not in r.stderr + r.stdout


def test_web_identity_refusal_names_the_source(s3server, sts, tmp_path):
    sts_url, _ = sts
    s3server.create_bucket("rec")
    token_file = tmp_path / "token"
    token_file.write_text("some-other-token")
    f = tmp_path / "a.rwd"
    make_file(f, 1000)
    r = rewind("push", f, "s3://rec/x.rwd", env=web_identity_env(s3server, sts_url, token_file))
    assert r.returncode == 1
    assert f"web identity (role {ROLE}, token file {token_file})" in r.stderr
    assert "AccessDenied" in r.stderr
    assert "some-other-token" not in r.stderr
