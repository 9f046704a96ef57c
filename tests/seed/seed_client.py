#!/usr/bin/env python3
"""Port of the "seed" P2P file-sharing client (Portuguese slides, Python 2).

Reads the peers from a config file, then loops on stdin:
  line 1: file name (or "sair"; EOF also ends)
  -> asks every peer, prints one line per peer:  "<i> <host>:<port> <hash|None>"
     (or "<i> <host>:<port> ERROR <reason>" when the peer could not be asked)
  line 2: index of the peer to download from
  -> downloads into <dir>/<name>, prints "Transferencia concluida!"

Standard library only (Python 3.11). See README.md for deviations.
"""

import argparse
import os
import sys
from socket import AF_INET, SOCK_STREAM, socket

serverPort = 12000
diretorioPadrao = "./pasta_compartilhada/"
timeout = 30.0

PROMPT_ARQUIVO = "Digite o Arquivo A Ser Pesquisado ou sair para finalizar o programa:"
PROMPT_INDICE = "Digite o indice do servidor para download:"


def lerLinha(prompt):
    # Deviation: prompt on its own stdout line, read with readline so piped
    # stdin works; None on EOF (treated as "sair").
    print(prompt, flush=True)
    linha = sys.stdin.readline()
    if linha == "":
        return None
    return linha.rstrip("\r\n")


def lerServidores(nomeArquivo):
    arquivos = open(nomeArquivo, "r")
    texto = arquivos.read()
    arquivos.close()
    listServerName = []
    for linha in texto.split("\n"):
        linha = linha.strip()
        if linha == "":
            continue
        # Deviation: "ip:port" is accepted too (default port = serverPort).
        if linha.count(":") == 1:
            ip, porta = linha.split(":")
            listServerName.append((ip, int(porta)))
        else:
            listServerName.append((linha, serverPort))
    return listServerName


def nomePeer(peer):
    return "{}:{}".format(peer[0], peer[1])


def conectar(peer):
    clientSocket = socket(AF_INET, SOCK_STREAM)
    # Deviation: a timeout, so a silent peer cannot hang the client forever.
    clientSocket.settimeout(timeout)
    try:
        clientSocket.connect(peer)
    except BaseException:
        clientSocket.close()
        raise
    return clientSocket


def main():
    global serverPort, diretorioPadrao, timeout
    ap = argparse.ArgumentParser(description="seed P2P client (Python 3 port)")
    ap.add_argument("--config", default="arquivo_configuracao.txt",
                    help="peer list, one ip or ip:port a line (default %(default)s)")
    ap.add_argument("--dir", default=diretorioPadrao, help="download folder (default %(default)s)")
    ap.add_argument("--port", type=int, default=serverPort, help="port for lines without one (default %(default)s)")
    ap.add_argument("--timeout", type=float, default=timeout, help="socket timeout in seconds (default %(default)s)")
    args = ap.parse_args()
    serverPort = args.port
    diretorioPadrao = args.dir
    timeout = args.timeout

    listServerName = lerServidores(args.config)

    while True:
        pesquisaArquivo = lerLinha(PROMPT_ARQUIVO)

        if pesquisaArquivo is None or pesquisaArquivo == "sair":
            break
        if pesquisaArquivo == "":
            # Deviation: the original would send nothing and wait forever.
            print("Nome vazio ignorado", flush=True)
            continue

        listHashRecebidos = []
        for indice, ip in enumerate(listServerName):
            # Deviation: an unreachable / failing peer gets an ERROR line and a
            # non-downloadable entry, so indices still match the peer list.
            try:
                clientSocket = conectar(ip)
                try:
                    clientSocket.send(pesquisaArquivo.encode("utf-8"))
                    resposta = clientSocket.recv(1024).decode("utf-8")
                finally:
                    clientSocket.close()
                if resposta == "":
                    raise ConnectionError("resposta vazia")
            except Exception as e:  # noqa: BLE001
                listHashRecebidos.append(None)
                print("{} {} ERROR {}".format(indice, nomePeer(ip), str(e).replace("\n", " ") or type(e).__name__),
                      flush=True)
                continue
            listHashRecebidos.append("download:" + resposta)
            print("{} {} {}".format(indice, nomePeer(ip), resposta), flush=True)

        text = lerLinha(PROMPT_INDICE)
        if text is None:
            break
        try:
            indiceHash = int(text)
        except ValueError:
            # Deviation: a non-number is skipped instead of crashing.
            print("Indice invalido", flush=True)
            continue
        if indiceHash < 0 or indiceHash >= len(listHashRecebidos):
            print("Indice invalido", flush=True)
            continue

        hashEscolhido = listHashRecebidos[indiceHash]
        ipEscolhido = listServerName[indiceHash]
        if hashEscolhido is None or hashEscolhido == "download:None":
            print("Arquivo nao disponivel neste servidor", flush=True)
            continue

        caminho = os.path.join(diretorioPadrao, pesquisaArquivo)
        total = 0
        arquivo = None
        try:
            clientSocket = conectar(ipEscolhido)
            try:
                clientSocket.sendall(hashEscolhido.encode("utf-8"))

                os.makedirs(diretorioPadrao, exist_ok=True)
                arquivo = open(caminho, "wb")

                dados = clientSocket.recv(4096)

                # Le os dados
                while dados:
                    # Escreve os dados do arquivo
                    arquivo.write(dados)
                    total += len(dados)

                    # Recebe os dados do arquivo
                    dados = clientSocket.recv(4096)
            finally:
                # Fecha o arquivo
                if arquivo is not None:
                    arquivo.close()
                # Finaliza a conexao
                clientSocket.close()
        except Exception as e:  # noqa: BLE001
            print("ERROR download {}: {}".format(nomePeer(ipEscolhido), e), flush=True)
            continue

        print("Transferencia concluida!", flush=True)
        print("{} bytes em {}".format(total, caminho), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
