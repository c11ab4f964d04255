// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title The MVP→MVC conversion bridge (MV-9)
/// @notice Holds MVC for conversions of MVP (the platform's point) into MVC. For each
/// conversion the platform's operator key releases MVC to the member's address, exactly
/// once per conversion id:
///
/// - `release(id, to, amount)` pays `amount` from this contract's balance and records it;
///   a second release of the same id is refused (`AlreadyReleased`), whatever its recipient
///   or amount, so a retried release can never pay twice.
/// - `cancel(id)` kills an id that was never released: it can never be released afterwards
///   (`Cancelled`). Cancelling again is a no-op; cancelling a released id is refused. The
///   platform cancels before it gives a member's MVP back, so a release still in flight
///   cannot also land.
///
/// OPERATOR_ROLE releases and cancels; DEFAULT_ADMIN_ROLE grants roles and may withdraw MVC
/// the bridge holds (nothing released can be taken back: it has left the contract).
contract ConversionBridge is AccessControl {
    using SafeERC20 for IERC20;

    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    /// @notice What the bridge knows of a conversion id.
    enum State {
        None,
        Released,
        Cancelled
    }

    /// @dev One slot for state, recipient and block; one for the amount.
    struct Release {
        State state;
        address to;
        uint64 blockNumber;
        uint256 amount;
    }

    IERC20 public immutable token;
    /// @notice MVC released over every conversion.
    uint256 public totalReleased;
    mapping(bytes32 id => Release) private _releases;

    event Released(bytes32 indexed id, address indexed to, uint256 amount);
    event ReleaseCancelled(bytes32 indexed id);
    event Withdrawn(address indexed to, uint256 amount);

    error AlreadyReleased(bytes32 id);
    error Cancelled(bytes32 id);
    error ZeroAddress();
    error ZeroAmount();
    error InsufficientBalance(uint256 available, uint256 needed);

    constructor(IERC20 token_, address admin, address operator) {
        if (address(token_) == address(0) || admin == address(0) || operator == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(OPERATOR_ROLE, operator);
    }

    /// @notice Pays `amount` MVC to `to` for conversion `id`, once: refused if `id` was
    /// released or cancelled before.
    function release(bytes32 id, address to, uint256 amount) external onlyRole(OPERATOR_ROLE) {
        Release storage entry = _releases[id];
        if (entry.state == State.Released) revert AlreadyReleased(id);
        if (entry.state == State.Cancelled) revert Cancelled(id);
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        uint256 available = token.balanceOf(address(this));
        if (available < amount) revert InsufficientBalance(available, amount);
        entry.state = State.Released;
        entry.to = to;
        entry.blockNumber = uint64(block.number);
        entry.amount = amount;
        totalReleased += amount;
        token.safeTransfer(to, amount);
        emit Released(id, to, amount);
    }

    /// @notice Makes sure conversion `id` is never released: refused if it already was;
    /// nothing happens if it is already cancelled.
    function cancel(bytes32 id) external onlyRole(OPERATOR_ROLE) {
        Release storage entry = _releases[id];
        if (entry.state == State.Released) revert AlreadyReleased(id);
        if (entry.state == State.Cancelled) return;
        entry.state = State.Cancelled;
        emit ReleaseCancelled(id);
    }

    /// @notice What happened to conversion `id`: its state, and for a release its recipient,
    /// amount and block number (zero otherwise).
    function releaseOf(bytes32 id)
        external
        view
        returns (State state, address to, uint256 amount, uint64 blockNumber)
    {
        Release storage entry = _releases[id];
        return (entry.state, entry.to, entry.amount, entry.blockNumber);
    }

    /// @notice Sends `amount` of the MVC the bridge holds to `to` (the admin's way to take
    /// back what conversions will not need).
    function withdraw(address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        uint256 available = token.balanceOf(address(this));
        if (available < amount) revert InsufficientBalance(available, amount);
        token.safeTransfer(to, amount);
        emit Withdrawn(to, amount);
    }
}
