// SPDX-License-Identifier: Apache-2.0
#include "test_pki.h"

#include <crypt.h>

#include <fstream>
#include <stdexcept>

#include "process.h"

namespace sanwatch::test {
namespace {

using namespace std::chrono_literals;

void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_command(argv, 30s);
  if (!r.ok()) throw std::runtime_error("openssl failed: " + r.out + r.err);
}

void make_ca(const std::string& dir, const std::string& name) {
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", dir + "/" + name + ".key", "-out", dir + "/" + name + ".pem", "-days", "2",
           "-subj", "/CN=sanwatch test " + name, "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
}

// A leaf certificate `name` signed by CA `ca`, with extensions `ext`.
void make_leaf(const std::string& dir, const std::string& ca, const std::string& name,
               const std::string& cn, const std::string& ext) {
  const std::string base = dir + "/" + name, ext_file = base + ".ext";
  std::ofstream(ext_file) << ext;
  openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
           base + ".key", "-out", base + ".csr", "-subj", "/CN=" + cn});
  openssl({"x509", "-req", "-in", base + ".csr", "-CA", dir + "/" + ca + ".pem", "-CAkey",
           dir + "/" + ca + ".key", "-CAcreateserial", "-out", base + ".pem", "-days", "2",
           "-extfile", ext_file});
}

}  // namespace

TestPki::TestPki() {
  const std::string d = dir_.path();
  make_ca(d, "ca");
  make_ca(d, "rogue-ca");
  make_leaf(d, "ca", "server", "localhost",
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const std::string client_ext =
      "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n";
  make_leaf(d, "ca", "client", "prometheus", client_ext);
  make_leaf(d, "rogue-ca", "rogue-client", "prometheus", client_ext);
}

std::string bcrypt_hash(const std::string& password) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn("$2y$", 10, nullptr, 0, setting, sizeof setting))
    throw std::runtime_error("crypt_gensalt_rn failed");
  crypt_data data{};
  const char* h = crypt_rn(password.c_str(), setting, &data, sizeof data);
  if (!h || h[0] != '$') throw std::runtime_error("crypt_rn failed");
  return h;
}

}  // namespace sanwatch::test
