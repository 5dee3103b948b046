"""HTTP client for the KUNA Pay merchant API.

Knows the wire format (paths, field names, envelope, errors, signatures) and nothing
about Django models. Credentials and transport options come in through the constructor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import requests

from . import __version__, safejson, signals, telemetry, wire
from .amounts import format_amount
from .conf import AUTH_SIGNED, Account
from .exceptions import (
    AuthenticationFailed,
    InvalidResponse,
    KunaPayError,
    NotFound,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderValidationError,
    RateLimited,
)
from .signing import compact_json, sign_request

logger = logging.getLogger("django_invoices.client")

ASSETS_PATH = "/v1/invoice/assets"
QUESTIONNAIRE_PATH = "/v1/invoice/questionnaire"
INVOICE_PATH = "/v1/invoice"
TRANSACTION_PATH = "/v1/transaction"
# The endpoints with an id in their path, as monitoring names them.
INVOICE_ITEM = INVOICE_PATH + "/{id}"
TRANSACTION_ITEM = TRANSACTION_PATH + "/{id}"

#: Items asked for per page of a list endpoint (``take``), and the most pages read: a
#: provider whose default page is small must not hide anything past the first page.
PAGE_SIZE = 100
MAX_PAGES = 100

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# What one request came to, as ``signals.provider_request`` reports it (the values of
# ``models.ProviderRequest.Result``; the client knows no model).
RESULT_OK = "ok"
RESULT_NOT_FOUND = "not_found"
RESULT_INVALID = "invalid"
RESULT_REFUSED = "refused"
RESULT_AUTH = "auth"
RESULT_RATE_LIMITED = "rate_limited"
RESULT_SERVER_ERROR = "server_error"
RESULT_TIMEOUT = "timeout"
RESULT_UNREACHABLE = "unreachable"


def result_of(status_code: int | None, error: Exception | None = None) -> str:
    """What a request came to: its answer's status, or the error it ended with."""
    if status_code is None:
        return RESULT_TIMEOUT if isinstance(error, ProviderTimeout) else RESULT_UNREACHABLE
    if 200 <= status_code < 300:
        return RESULT_INVALID if isinstance(error, InvalidResponse) else RESULT_OK
    if status_code in (401, 403):
        return RESULT_AUTH
    if status_code == 404:
        return RESULT_NOT_FOUND
    if status_code == 429:
        return RESULT_RATE_LIMITED
    if 400 <= status_code < 500:
        return RESULT_REFUSED
    return RESULT_SERVER_ERROR


def _sent_nothing(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the provider (safe to resend)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        text = repr(exc)
        return any(
            marker in text
            for marker in ("NewConnectionError", "NameResolutionError", "Connection refused")
        )
    return False


def _session_for(api_url: str) -> requests.Session:
    """A session for one API URL that reads the environment once, not on every call.

    With ``trust_env``, requests looks up the proxy variables (walking ``os.environ``)
    and ``~/.netrc`` for each request: about a tenth of a callback's time in the
    profile. The proxies and CA bundle that the environment gives this URL are taken
    once instead; ``.netrc`` is never needed (every request carries its own keys).
    """
    session = requests.Session()
    found = session.merge_environment_settings(api_url, {}, None, None, None)
    session.proxies.update(found["proxies"])
    session.verify = found["verify"]
    session.trust_env = False
    return session


class KunaPayClient:
    """One client per merchant account; it keeps one ``requests.Session`` for reuse."""

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str = "",
        public_key: str = "",
        private_key: str = "",
        auth_mode: str = "api_key",
        timeout: tuple[float, float] = (3.05, 15.0),
        retries: int = 2,
        retry_backoff: float = 0.5,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        nonce_source: Callable[[int], int] | None = None,
        account: str = "",
    ) -> None:
        if auth_mode == AUTH_SIGNED and not (public_key and private_key):
            raise ValueError("signed mode needs both public_key and private_key")
        if auth_mode != AUTH_SIGNED and not api_key:
            raise ValueError("api_key mode needs api_key")
        self.api_url = api_url.rstrip("/")
        self._base_path = urlsplit(self.api_url).path.rstrip("/")
        self.api_key = api_key
        self.public_key = public_key
        self._private_key = private_key
        self.auth_mode = auth_mode
        self.timeout = timeout
        self.retries = max(0, retries)
        self.retry_backoff = retry_backoff
        # The merchant account's name, for monitoring only (signals, spans).
        self.account = account
        self.session = session or _session_for(self.api_url)
        self.session.headers.update(
            {
                "Accept": "application/json",
                "User-Agent": f"django-invoices/{__version__}",
            }
        )
        self._clock = clock
        self._sleep = sleep
        self._last_nonce = 0
        # Shared with other processes signing with this key (``services.nonces``): given
        # this process's next nonce, it answers one no process has used, at least as big.
        self._nonce_source = nonce_source
        # Requests may go out from several threads at once (bulk refresh in admin).
        self._nonce_lock = threading.Lock()

    @classmethod
    def from_account(cls, account: Account, **kwargs: Any) -> KunaPayClient:
        return cls(
            account.api_url,
            api_key=account.api_key,
            public_key=account.public_key,
            private_key=account.private_key,
            auth_mode=account.auth_mode,
            timeout=(account.connect_timeout, account.read_timeout),
            retries=account.retries,
            retry_backoff=account.retry_backoff,
            account=account.name,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"<KunaPayClient {self.api_url} auth={self.auth_mode}>"

    # -- endpoints ---------------------------------------------------------------------

    def list_assets(self) -> list[dict[str, Any]]:
        """``GET /v1/invoice/assets``: the assets an invoice may be created in, every page."""
        return self._all_pages(ASSETS_PATH, {})

    def questionnaire_fields(self) -> list[dict[str, Any]]:
        """``GET /v1/invoice/questionnaire``: buyer fields an invoice may ask for."""
        return _as_list(self._request("GET", QUESTIONNAIRE_PATH))

    def create_invoice(self, *, amount: Decimal | str, asset: str, **options: Any) -> wire.Invoice:
        """``POST /v1/invoice``. Never retried once it may have reached the provider.

        ``options`` are the keyword arguments of ``invoice_body``.
        """
        body = self.invoice_body(amount=amount, asset=asset, **options)
        return wire.Invoice.from_wire(_as_dict(self._request("POST", INVOICE_PATH, body=body)))

    @staticmethod
    def invoice_body(
        *,
        amount: Decimal | str,
        asset: str,
        external_order_id: str | None = None,
        callback_url: str | None = None,
        redirect_url: str | None = None,
        redirect_button_title: str | None = None,
        transactional_callbacks: bool | None = None,
        questionnaire_fields: Iterable[str] = (),
        product_description: str | None = None,
        product_category: str | None = None,
    ) -> dict[str, Any]:
        """The JSON body of ``POST /v1/invoice`` with the provider's field names."""
        body: dict[str, Any] = {"amount": format_amount(amount), "asset": asset}
        if external_order_id:
            body["externalOrderId"] = external_order_id
        if product_description:
            body["productDescription"] = product_description
        if product_category:
            body["productCategory"] = product_category
        if callback_url:
            body["callbackUrl"] = callback_url
        if transactional_callbacks is not None:
            body["shouldSendTransactionalCallback"] = bool(transactional_callbacks)
        customization = {}
        if redirect_url:
            customization["redirectUrl"] = redirect_url
        if redirect_button_title:
            customization["redirectButtonTitle"] = redirect_button_title
        if customization:
            body["customization"] = customization
        fields = [{"name": name} for name in questionnaire_fields]
        if fields:
            body["questionnaire"] = {"schemaFields": fields}
        return body

    def get_invoice(self, invoice_id: str) -> wire.Invoice:
        """``GET /v1/invoice/{id}``: one invoice with its transactions."""
        path = f"{INVOICE_PATH}/{_segment(invoice_id, 'an invoice id')}"
        answer = self._request("GET", path, endpoint=INVOICE_ITEM, object_id=str(invoice_id))
        return wire.Invoice.from_wire(_as_dict(answer))

    def get_transaction(self, transaction_id: str) -> wire.Transaction:
        """``GET /v1/transaction/{id}``: one transaction; ``invoiceId`` names its invoice."""
        path = f"{TRANSACTION_PATH}/{_segment(transaction_id, 'a transaction id')}"
        answer = self._request(
            "GET", path, endpoint=TRANSACTION_ITEM, object_id=str(transaction_id)
        )
        return wire.Transaction.from_wire(_as_dict(answer))

    def list_invoices(
        self,
        *,
        external_order_id: str | None = None,
        take: int | None = None,
        skip: int | None = None,
        **filters: str,
    ) -> list[wire.Invoice]:
        """``GET /v1/invoice``, filtered (``externalOrderId``, ...).

        Without ``take`` or ``skip`` every page is read; with either, that one page.
        """
        params: dict[str, Any] = dict(filters)
        if external_order_id is not None:
            params["externalOrderId"] = external_order_id
        if take is None and skip is None:
            items = self._all_pages(INVOICE_PATH, params)
        else:
            if take is not None:
                params["take"] = take
            if skip is not None:
                params["skip"] = skip
            items = _as_list(self._request("GET", INVOICE_PATH, params=params))
        return [wire.Invoice.from_wire(item) for item in items]

    def _all_pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of a list endpoint, read ``PAGE_SIZE`` at a time with take/skip.

        A page shorter than asked for is the last. A provider that ignores ``skip``
        (the same first item again) ends the reading instead of looping.
        """
        items: list[dict[str, Any]] = []
        first: dict[str, Any] | None = None
        for page_number in range(MAX_PAGES):
            page = _as_list(
                self._request("GET", path, params={**params, "take": PAGE_SIZE, "skip": len(items)})
            )
            if page_number and page and page[0] == first:
                break
            if page_number == 0 and page:
                first = page[0]
            items.extend(page)
            if len(page) < PAGE_SIZE:
                break
        else:
            logger.warning("KUNA Pay's %s had more than %d pages; read the first", path, MAX_PAGES)
        return items

    # -- transport -----------------------------------------------------------------------

    def _nonce(self) -> str:
        # Strictly increasing milliseconds, even for two calls within one millisecond.
        with self._nonce_lock:
            now = int(self._clock() * 1000)
            nonce = max(now, self._last_nonce + 1)
            if self._nonce_source is not None:
                nonce = max(nonce, self._nonce_source(nonce))
            self._last_nonce = nonce
            return str(nonce)

    def _headers(self, path_and_query: str, body_text: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.auth_mode == AUTH_SIGNED:
            nonce = self._nonce()
            headers["public-key"] = self.public_key
            headers["nonce"] = nonce
            headers["signature"] = sign_request(
                self._private_key, self._base_path + path_and_query, nonce, body_text
            )
        else:
            headers["api-key"] = self.api_key
        return headers

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        endpoint: str | None = None,
        object_id: str = "",
    ) -> Any:
        """One call: the request and its safe retries, in one span; each attempt is
        reported by ``signals.provider_request``. ``endpoint`` names the path with its
        id left out, ``object_id`` that id."""
        endpoint = endpoint or path
        with telemetry.span(
            "provider.request",
            method=method,
            endpoint=endpoint,
            account=self.account,
            object_id=object_id[:64] or None,
        ) as step:
            return self._attempts(method, path, endpoint, object_id, step, params, body)

    def _attempts(
        self,
        method: str,
        path: str,
        endpoint: str,
        object_id: str,
        step: telemetry.Step,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
    ) -> Any:
        # The query string and body are built here, once, so the bytes signed are
        # exactly the bytes sent.
        query = urlencode([(k, str(v)) for k, v in (params or {}).items()])
        path_and_query = f"{path}?{query}" if query else path
        body_text = compact_json(body) if body is not None else ""
        data = body_text.encode("utf-8") if body is not None else None
        safe = method == "GET"
        attempt = 0
        while True:
            headers = self._headers(path_and_query, body_text)
            report = _Report(self, method, endpoint, object_id, attempt + 1, step)
            try:
                response = self.session.request(
                    method,
                    self.api_url + path_and_query,
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                error = self._transport_error(method, path, exc)
                report.done(None, error)
                if attempt < self.retries and (safe or not error.ambiguous):
                    attempt += 1
                    self._backoff(attempt, None)
                    continue
                raise error from exc
            if response.status_code in RETRY_STATUSES and safe and attempt < self.retries:
                report.done(response.status_code)
                attempt += 1
                self._backoff(attempt, response.headers.get("Retry-After"))
                continue
            try:
                answer = self._handle(method, path, response)
            except KunaPayError as exc:
                report.done(response.status_code, exc)
                raise
            report.done(response.status_code)
            return answer

    def _log_ids(self, path: str) -> dict[str, str]:
        """The ids a log line about a request carries (``telemetry.LOG_KEYS``)."""
        found = {"account": self.account} if self.account else {}
        if path.startswith(INVOICE_PATH + "/") and path.count("/") == 3:
            found["provider_invoice_id"] = unquote(path.rsplit("/", 1)[1])
        elif path.startswith(TRANSACTION_PATH + "/"):
            found["transaction_id"] = unquote(path.rsplit("/", 1)[1])
        return found

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        delay = self.retry_backoff * (2 ** (attempt - 1))
        asked = _seconds(retry_after)
        if asked is not None:
            delay = max(delay, min(asked, 30.0))
        self._sleep(delay)

    def _transport_error(
        self, method: str, path: str, exc: requests.RequestException
    ) -> KunaPayError:
        ambiguous = method != "GET" and not _sent_nothing(exc)
        logger.warning(
            "KUNA Pay %s %s failed: %s",
            method,
            path,
            exc.__class__.__name__,
            extra=self._log_ids(path),
        )
        if isinstance(exc, requests.Timeout):
            return ProviderTimeout(
                f"no answer from KUNA Pay within the timeout ({method} {path})",
                ambiguous=ambiguous,
            )
        return ProviderUnavailable(
            f"cannot reach KUNA Pay ({method} {path}): {exc.__class__.__name__}",
            ambiguous=ambiguous,
        )

    def _handle(self, method: str, path: str, response: requests.Response) -> Any:
        status = response.status_code
        text = response.text[:2000]
        try:
            payload = safejson.loads(response.content)
        except ValueError:  # not JSON, not UTF-8, nested too deeply, lone surrogates
            payload = None
        if 200 <= status < 300:
            if (
                not isinstance(payload, dict)
                or "data" not in payload
                or safejson.contains_nul(response.content)
            ):
                raise InvalidResponse(
                    f"KUNA Pay answered {method} {path} without a JSON data envelope",
                    status_code=status,
                    response_text=text,
                )
            return payload["data"]
        errors = _errors_of(payload)
        message = "; ".join(
            f"{err.get('code', '')}: {err.get('message', '')}".strip(": ") for err in errors
        ) or (text.strip()[:200] or response.reason or "error")
        logger.warning(
            "KUNA Pay %s %s answered %s: %s",
            method,
            path,
            status,
            message,
            extra=self._log_ids(path),
        )
        kwargs: dict[str, Any] = {
            "status_code": status,
            "errors": errors,
            "response_text": text,
        }
        if status in (401, 403):
            raise AuthenticationFailed(message, **kwargs)
        if status == 404:
            raise NotFound(message, **kwargs)
        if status == 429:
            seconds = _seconds(response.headers.get("Retry-After"))
            raise RateLimited(message, retry_after=seconds, **kwargs)
        if 400 <= status < 500:
            raise ProviderValidationError(message, **kwargs)
        raise ProviderUnavailable(message, **kwargs)


class _Report:
    """Times one attempt and reports how it ended (``signals.provider_request``)."""

    __slots__ = ("attempt", "client", "endpoint", "method", "object_id", "started", "step", "t0")

    def __init__(
        self,
        client: KunaPayClient,
        method: str,
        endpoint: str,
        object_id: str,
        attempt: int,
        step: telemetry.Step,
    ) -> None:
        self.client, self.method, self.endpoint = client, method, endpoint
        self.object_id, self.attempt, self.step = object_id, attempt, step
        self.started = datetime.now(timezone.utc)
        self.t0 = time.perf_counter()

    def done(self, status_code: int | None, error: Exception | None = None) -> None:
        seconds = time.perf_counter() - self.t0
        result = result_of(status_code, error)
        self.step.set(status_code=status_code, outcome=result, attempts=self.attempt)
        # Monitoring must never break a payment: a receiver's error is logged.
        for receiver, failed in signals.provider_request.send_robust(
            sender=KunaPayClient,
            account=self.client.account,
            method=self.method,
            endpoint=self.endpoint,
            object_id=self.object_id,
            status_code=status_code,
            result=result,
            seconds=seconds,
            started_at=self.started,
            attempt=self.attempt,
        ):
            if isinstance(failed, Exception):
                logger.warning(
                    "Receiver %r of provider_request failed",
                    receiver,
                    exc_info=(type(failed), failed, failed.__traceback__),
                )


def _segment(value: object, what: str) -> str:
    """An id as one path segment, percent-encoded once (a ``/``, ``?`` or ``%`` in it
    stays part of the id); the request is signed over exactly this text."""
    text = str(value)
    if not text or "\x00" in text:
        raise ValueError(f"not {what}: {text[:80]!r}")
    return quote(text, safe="")


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _errors_of(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict):
        return []
    errors = payload.get("errors")
    if isinstance(errors, dict):
        errors = [errors]
    if not isinstance(errors, list):
        return []
    result = []
    for err in errors:
        if isinstance(err, dict):
            result.append(
                {"code": str(err.get("code", "")), "message": str(err.get("message", ""))}
            )
        elif isinstance(err, str):
            result.append({"code": "", "message": err})
    return result


def _as_list(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise InvalidResponse("KUNA Pay answered with something that is not a list of objects")
    return data


def _as_dict(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidResponse("KUNA Pay answered with something that is not an object")
    return data
