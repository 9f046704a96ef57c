#!/usr/bin/env python3
"""Port of the "seed" P2P file-sharing server (Portuguese slides, Python 2).

Protocol (one request per TCP connection, then close):
  * "<nome>"            -> hex SHA-256 of the first file under the shared folder
                           whose base name is exactly <nome>, or "None".
  * "download:<hash>"   -> raw bytes of the file previously answered with <hash>;
                           nothing at all if the hash is unknown (or "None").

Standard library only (Python 3.11). See README.md for deviations.
"""

import argparse
import hashlib
import os
import signal
import sys
import threading
from socket import AF_INET, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, socket

serverPort = 12000
diretorioPadrao = "./pasta_compartilhada/"
arquivosEncontrados = {}  # hash (str) -> path of the file (str)
quiet = False


def log(msg):
    # Deviation: log lines go to stderr (stdout carries only "listening on ...")
    # so a test that reads just the first stdout line never blocks the server.
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def pesquisaArquivo(diretorioPadrao, buscaDownload):
    pathName = diretorioPadrao
    for path, diretorio, arquivos in os.walk(pathName):
        for fileName in arquivos:
            if fileName == buscaDownload:
                # Deviation: os.path.join instead of "{}{}".format(path, fileName),
                # which dropped the "/" for files in subfolders. Returns the path
                # instead of an open text-mode file object.
                return os.path.join(path, fileName)
    log("Arquivo Não Encontrado")
    return None


def criarHash(arquivo):
    # Not shown in the slides: hex SHA-256 (lower case) of the file contents,
    # None when no file was found (so str(hash) == "None").
    if arquivo is None:
        return None
    h = hashlib.sha256()
    with open(arquivo, "rb") as f:
        for bloco in iter(lambda: f.read(65536), b""):
            h.update(bloco)
    return h.hexdigest()


def ouvirSocket(connectionSocket, addr):
    # Deviation: every error is caught per connection; the socket is always
    # closed and the server keeps serving.
    try:
        buscaDownload = connectionSocket.recv(1024)
        buscaDownload = buscaDownload.decode("utf-8")

        if not buscaDownload.__contains__("download:"):
            arquivo = pesquisaArquivo(diretorioPadrao, buscaDownload)
            hash = criarHash(arquivo)
            hash = str(hash)
            if arquivo is not None:
                # Deviation: "None" is never stored (the original stored
                # arquivosEncontrados["None"] = None and crashed on download:None).
                arquivosEncontrados[hash] = arquivo
            connectionSocket.sendall(hash.encode("utf-8"))
            log("Solicitado arquivo por: {}".format(addr))
        else:
            hash = buscaDownload.replace("download:", "")

            # acessa o dicionario de hash com o hash que quer fazer o download.
            arquivo = arquivosEncontrados.get(hash)
            if arquivo is None:
                # Deviation: unknown hash (incl. "None") -> close, send nothing.
                log("Hash desconhecido de {}: {!r}".format(addr, hash))
                return
            with open(arquivo, "rb") as arquivo:
                dado = arquivo.read(4096)
                while dado:
                    connectionSocket.sendall(dado)
                    dado = arquivo.read(4096)
            log("Arquivo enviado com sucesso para: {}".format(addr))
    except Exception as e:  # noqa: BLE001 - never let a connection kill the server
        log("Erro na conexao com {}: {!r}".format(addr, e))
    finally:
        try:
            connectionSocket.close()
        except OSError:
            pass


def iniciarServidor(host):
    serverSocket = socket(AF_INET, SOCK_STREAM)
    serverSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    serverSocket.bind((host, serverPort))
    serverSocket.listen(10)
    h, p = serverSocket.getsockname()[:2]
    print("listening on {}:{}".format(h, p), flush=True)
    try:
        while True:
            try:
                connectionSocket, addr = serverSocket.accept()
            except OSError as e:
                log("Erro no accept: {!r}".format(e))
                continue
            # uma thread por conexao
            t = threading.Thread(target=ouvirSocket, args=(connectionSocket, addr), daemon=True)
            t.start()
    finally:
        serverSocket.close()


def _parar(signum, frame):
    raise SystemExit(0)


def main():
    global serverPort, diretorioPadrao, quiet
    ap = argparse.ArgumentParser(description="seed P2P server (Python 3 port)")
    ap.add_argument("--dir", default=diretorioPadrao, help="shared folder (default %(default)s)")
    ap.add_argument("--port", type=int, default=serverPort, help="TCP port, 0 = any (default %(default)s)")
    ap.add_argument("--host", default="", help='address to bind (default "" = all)')
    ap.add_argument("--quiet", action="store_true", help="no log lines on stderr")
    args = ap.parse_args()
    serverPort = args.port
    diretorioPadrao = args.dir
    quiet = args.quiet
    signal.signal(signal.SIGTERM, _parar)
    signal.signal(signal.SIGINT, _parar)
    try:
        iniciarServidor(args.host)
    except SystemExit:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
